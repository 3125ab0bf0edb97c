// Upload page: the uploader, and the live gallery under it that new uploads join as they are stored.
import { followProcessing, showImage } from "./cards.js";
import { paintPlaceholders } from "./placeholders.js";
import { initUploader } from "./uploader.js";

const gallery = document.getElementById("gallery");
paintPlaceholders(gallery);
followProcessing(gallery);

initUploader(document.getElementById("upload-form"), {
  async onStored(stored) {
    const response = await fetch(stored.status_url, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    showImage(gallery, await response.json());
    document.getElementById("gallery-empty").hidden = true;
  },
});
