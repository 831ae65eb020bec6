/* pydock dashboards: starts the script of the page named by <body data-page>. */
"use strict";
(function () {
  const p = window.pydock;
  const start = p.pages[document.body.dataset.page];
  if (start) start().catch(e => p.showError(String(e.message || e)));
})();
