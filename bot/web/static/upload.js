// Says at once that a chosen file is over the upload limit, before it is sent (the server
// checks again). Forms carry the limit in data-max-bytes.
"use strict";
document.querySelectorAll("form[data-max-bytes]").forEach((form) => {
  const limit = Number(form.dataset.maxBytes);
  const warning = form.querySelector(".upload-too-large");
  const input = form.querySelector('input[type="file"]');
  if (!input || !warning || !limit) return;
  const check = () => {
    const file = input.files && input.files[0];
    const tooLarge = Boolean(file && file.size > limit);
    warning.hidden = !tooLarge;
    return tooLarge;
  };
  input.addEventListener("change", check);
  form.addEventListener("submit", (event) => {
    if (check()) event.preventDefault();
  });
});
