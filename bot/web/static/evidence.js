// The incident page: a button under each evidence picture shows it at full size inside its own
// scrolling frame (the page itself never scrolls sideways), and fits it to the screen again.
"use strict";
(() => {
  document.querySelectorAll(".evidence figure").forEach((figure) => {
    const frame = figure.querySelector(".zoom-frame");
    const button = figure.querySelector(".zoom-button");
    if (!frame || !button) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      const zoomed = frame.classList.toggle("zoomed");
      button.textContent = zoomed ? button.dataset.zoomOut : button.dataset.zoomIn;
      button.setAttribute("aria-pressed", String(zoomed));
    });
  });
})();
