"""`pydock build`: Dockerfiles into images of the store (the classic builder's model).

`build(settings, BuildOptions(...), output)` is the one entry point; the CLI (`pydock build`) and the
Engine API's `POST /build` call it. Modules: dockerfile.py (parser), shellwords.py (variable
substitution), instructions.py (what each instruction does), context.py and ignore.py (the build
context, .dockerignore, COPY/ADD layers), layers.py (a build container's changes as a layer),
cache.py (the layer cache), builder.py (stages, steps, RUN containers). See docs/build.md.
"""

from pydock.runtime.build.builder import BuildOptions, BuildResult, NullOutput, Output, build

__all__ = ["BuildOptions", "BuildResult", "NullOutput", "Output", "build"]
