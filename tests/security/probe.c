/* A syscall probe for the security tests: `probe NAME [ARG]` makes one raw syscall and prints
   `NAME=0` or `NAME=<errno name>`, so a test tells a seccomp denial (EPERM, ENOSYS) from the
   kernel's own answer. Built statically by the tests' conftest and bound into containers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long call(const char *name, const char *arg) {
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
    if (!strcmp(name, "add_key")) return syscall(SYS_add_key, "user", "pydock", "x", 1, -3);
    if (!strcmp(name, "bpf")) return syscall(SYS_bpf, 0, NULL, 0);
    if (!strcmp(name, "perf_event_open")) return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0);
    if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
    if (!strcmp(name, "mkdirat")) return syscall(SYS_mkdirat, AT_FDCWD, arg ? arg : "/tmp/probe-dir", 0755);
    if (!strcmp(name, "unshare_user")) return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "ptrace")) return ptrace(PTRACE_ATTACH, (pid_t)atoi(arg ? arg : "1"), NULL, NULL);
    if (!strcmp(name, "fork")) {  /* glibc's fork: clone3 first where it has it, clone on ENOSYS */
        pid_t pid = fork();
        if (pid == 0) _exit(7);
        if (pid < 0) return -1;
        int st = 0;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : (errno = ECHILD, -1);
    }
    fprintf(stderr, "probe: unknown call %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = NULL;
        char name[64];
        snprintf(name, sizeof name, "%s", argv[i]);
        char *eq = strchr(name, '=');
        if (eq) { *eq = 0; arg = argv[i] + (eq - name) + 1; }
        errno = 0;
        long r = call(name, arg);
        printf("%s=%s\n", name, r < 0 ? strerrorname_np(errno) : "0");
    }
    return 0;
}
