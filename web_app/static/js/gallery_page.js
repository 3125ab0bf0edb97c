// Gallery page: cards still processing update in place until they settle.
import { followProcessing } from "./cards.js";

followProcessing(document.getElementById("gallery"));
