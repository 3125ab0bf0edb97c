// Gallery page: placeholders first, then cards still processing update in place until they settle.
import { followProcessing } from "./cards.js";
import { paintPlaceholders } from "./placeholders.js";

const gallery = document.getElementById("gallery");
paintPlaceholders(gallery);
followProcessing(gallery);
