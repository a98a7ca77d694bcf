// semseg page: upload an image to /v1/segment, draw the overlay from the returned index mask,
// legend with class shares, per-class toggles, opacity, downloads. No network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: {}, file: null, result: null, hidden: new Set() };

function setStatus(text) { $("status").textContent = text; }
function showError(text) {
  $("error").hidden = !text;
  $("error").textContent = text || "";
}

async function loadModels() {
  const reply = await fetch("/v1/models");
  const data = await reply.json();
  for (const m of data.models) {
    state.models[m.name] = m;
    const opt = new Option(`${m.name} (${m.dataset}, ${m.classes.length} classes)`, m.name);
    $("model").add(opt);
  }
  $("model").value = data.default;
  const mb = (data.max_body_bytes / 2 ** 20).toFixed(0);
  const mp = (data.max_pixels / 1e6).toFixed(1);
  $("limits").textContent = `Up to ${mb} MB and ${mp} megapixels per image.`;
}

function decodeBase64(text) {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function pixels(bitmap, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height).data;
}

async function segment() {
  if (!state.file) return;
  const model = $("model").value;
  const form = new FormData();
  form.append("image", state.file);
  form.append("model", model);
  form.append("format", "json");
  form.append("include_mask", "true");
  showError("");
  setStatus("Running…");
  document.body.setAttribute("aria-busy", "true");
  try {
    const reply = await fetch("/v1/segment", { method: "POST", body: form });
    const data = await reply.json();
    if (!reply.ok) throw new Error(`${reply.status}: ${data.detail}`);
    const maskBytes = decodeBase64(data.mask_png_base64);
    const maskBlob = new Blob([maskBytes], { type: "image/png" });
    const [imageBitmap, maskBitmap] = await Promise.all([
      createImageBitmap(state.file), createImageBitmap(maskBlob)]);
    const { width, height } = data;
    const classes = state.models[model].classes;
    const byColor = new Map(classes.map((c) => [c.color.join(","), c.index]));
    const maskRgb = pixels(maskBitmap, width, height);
    const ids = new Int16Array(width * height);
    for (let i = 0; i < ids.length; i++) {
      const key = `${maskRgb[4 * i]},${maskRgb[4 * i + 1]},${maskRgb[4 * i + 2]}`;
      ids[i] = byColor.has(key) ? byColor.get(key) : -1;
    }
    state.result = { data, classes, ids, width, height, image: pixels(imageBitmap, width, height) };
    state.hidden.clear();
    $("download-mask").href = `data:image/png;base64,${data.mask_png_base64}`;
    buildLegend();
    draw();
    const t = data.timings_ms;
    $("timings").textContent = `${width}×${height} px, model ${data.model}: inference ` +
      `${t.inference} ms, queue ${t.queue} ms.`;
    $("result").hidden = false;
    setStatus("Done.");
  } catch (err) {
    showError(`Could not segment the image: ${err.message}`);
    setStatus("Failed.");
  } finally {
    document.body.removeAttribute("aria-busy");
  }
}

function buildLegend() {
  const { data, classes } = state.result;
  const list = $("legend");
  list.replaceChildren();
  for (const [name, share] of Object.entries(data.shares)) {
    const cls = classes.find((c) => c.name === name);
    const item = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.dataset.index = cls.index;
    box.addEventListener("change", () => {
      if (box.checked) state.hidden.delete(cls.index); else state.hidden.add(cls.index);
      draw();
    });
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${cls.color.join(",")})`;
    const text = document.createElement("span");
    text.className = "legend-text";
    text.textContent = `${name} ${(100 * share).toFixed(1)}%`;
    label.append(box, swatch, text);
    item.append(label);
    list.append(item);
  }
}

function draw() {
  const r = state.result;
  if (!r) return;
  const alpha = Number($("alpha").value);
  const canvas = $("overlay");
  canvas.width = r.width;
  canvas.height = r.height;
  const ctx = canvas.getContext("2d");
  const out = ctx.createImageData(r.width, r.height);
  const colors = r.classes.map((c) => c.color);
  for (let i = 0; i < r.ids.length; i++) {
    const id = r.ids[i];
    const tint = id >= 0 && !state.hidden.has(id);
    for (let ch = 0; ch < 3; ch++) {
      const v = r.image[4 * i + ch];
      out.data[4 * i + ch] = tint ? Math.round((1 - alpha) * v + alpha * colors[id][ch]) : v;
    }
    out.data[4 * i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  $("download-overlay").href = canvas.toDataURL("image/png");
}

function useFile(file) {
  if (!file) return;
  state.file = file;
  segment();
}

function init() {
  $("file").addEventListener("change", (e) => useFile(e.target.files[0]));
  $("camera").addEventListener("change", (e) => useFile(e.target.files[0]));
  $("model").addEventListener("change", segment);
  $("alpha").addEventListener("input", () => {
    $("alpha-value").textContent = `${Math.round(100 * Number($("alpha").value))}%`;
    draw();
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    useFile(e.dataTransfer.files[0]);
  });
  $("form").addEventListener("submit", (e) => { e.preventDefault(); segment(); });
  loadModels().catch((err) => showError(`Could not list the models: ${err.message}`));
}

document.addEventListener("DOMContentLoaded", init);
