/* The book's additions to Sphinx's search page (loaded there only, after searchtools.js).
 *
 * 1. Snippets without raw TeX. A snippet is the text of the result's page, where a formula is
 *    still its TeX source (MathJax has not run there); each formula becomes " … ".
 * 2. Titles found whatever their punctuation. Sphinx matches a section title only when the query
 *    is a substring of it, so "cross entropy" misses "Cross-entropy". Here query and titles are
 *    compared as lower-case words separated by single spaces, and the sections that only this
 *    comparison finds are added with the score Sphinx gives a title match.
 */
(() => {
  if (typeof Search === "undefined") return;

  const htmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".math, mjx-container").forEach((el) => el.replaceWith(" … "));
    return htmlToText(doc.documentElement.outerHTML, anchor);
  };

  const words = (text) => text.toLowerCase().split(/[^\p{Letter}\p{Number}]+/u).filter(Boolean).join(" ");
  const performSearch = Search._performSearch;
  Search._performSearch = (query, ...rest) => {
    const results = performSearch(query, ...rest);
    const index = Search._index;
    const wanted = words(query);
    if (!wanted || !index || !index.alltitles) return results;
    const found = new Set(results.map((r) => `${r[0]}${r[2]}`));
    const extra = [];
    for (const [title, places] of Object.entries(index.alltitles)) {
      const plain = words(title);
      if (!plain.includes(wanted) || wanted.length < plain.length / 2) continue;
      for (const [file, id] of places) {
        const anchor = id !== null ? `#${id}` : "";
        if (found.has(`${index.docnames[file]}${anchor}`)) continue;
        const pageTitle = index.titles[file];
        const score = Math.round((Scorer.title * wanted.length) / plain.length) + (pageTitle === title ? 1 : 0);
        extra.push([index.docnames[file], pageTitle !== title ? `${pageTitle} > ${title}` : title, anchor, null,
                    score, index.filenames[file]]);
      }
    }
    // Sphinx shows the results from the end of the list: best score last.
    return extra.length ? [...results, ...extra].sort((a, b) => a[4] - b[4]) : results;
  };
})();
