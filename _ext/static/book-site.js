/* The book's additions to the theme's behaviour (added to every page by _ext/book_site.py).
 *
 * 1. Printing (Ctrl+P, the theme's ".pdf" button) opens every collapsed code cell, output and
 *    solution of the page, and closes again afterwards the ones that were closed.
 *    sphinx-togglebutton opens its own dropdowns (the prose solutions) the same way; MyST-NB's
 *    hidden cells are <details> elements that it leaves alone.
 * 2. The page-contents drawer (and the chapter list) of a narrow screen closes once a reader
 *    taps one of its links, so that the section tapped is in view instead of behind the drawer.
 * 3. No tooltip after a tap. The theme's buttons show a Bootstrap tooltip on hover and on
 *    focus; a tap on a touch screen is both, and the tooltip then stays over the text until the
 *    reader taps elsewhere. A tooltip that a touch would open is not shown (a mouse still
 *    shows it).
 */
(() => {
  // 1. Printing opens every <details> of the article.
  const wasClosed = "bookClosedBeforePrint";
  window.addEventListener("beforeprint", () => {
    document.querySelectorAll(".bd-article details:not([open])").forEach((el) => {
      el.dataset[wasClosed] = "true";
      el.open = true;
    });
  });
  window.addEventListener("afterprint", () => {
    document.querySelectorAll(".bd-article details").forEach((el) => {
      if (el.dataset[wasClosed] === "true") {
        el.open = false;
        delete el.dataset[wasClosed];
      }
    });
  });

  // 2. A tap on a link in a drawer closes the drawer (the theme's <dialog> modals).
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href]");
    const drawer = link && link.closest("dialog#pst-secondary-sidebar-modal, dialog#pst-primary-sidebar-modal");
    if (drawer && drawer.open) {
      // After the click: the browser follows the link first (the theme moves the links back
      // into the page when the drawer closes).
      setTimeout(() => drawer.close(), 0);
    }
  });

  // 3. Tooltips for the mouse only.
  let lastPointer = "mouse";
  document.addEventListener("pointerdown", (event) => { lastPointer = event.pointerType; }, true);
  document.addEventListener("show.bs.tooltip", (event) => {
    if (lastPointer === "touch" || lastPointer === "pen") event.preventDefault();
  }, true);
})();
