// Send one file in one request with XMLHttpRequest, which (unlike fetch) reports upload progress.
export function sendFile(url, file, { token, onProgress }) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, body: xhr.response }));
    for (const failure of ["error", "abort", "timeout"]) {
      xhr.addEventListener(failure, () => resolve({ status: 0, body: null }));
    }
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
