// Every page of an uploader: the upload tray, drops anywhere, and the upload page's picker feeding it.
import { acceptDrops, initTray } from "./tray.js";

const tray = initTray(document.getElementById("upload-tray"));
acceptDrops(tray.add);

const form = document.getElementById("upload-form");
if (form) {
  const input = form.querySelector('input[type="file"]');
  form.querySelector(".no-js-submit").hidden = true; // with scripts, choosing files starts the upload
  form.addEventListener("submit", (event) => event.preventDefault());
  input.addEventListener("change", () => {
    tray.add([...input.files]);
    input.value = ""; // choosing the same file again is a new upload
  });
}
