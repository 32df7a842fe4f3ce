// The page of emotion-serve: one utterance (upload or record, transcript, bars, explanation) and timelines.
"use strict";

const COLORS = ["#3b6fb6", "#e08a1e", "#3a9a4a", "#c0504d", "#7a5cb0", "#8c6d31", "#d16ba5", "#555555"];
const model = { valueNames: [], probabilities: true };
let recorded = null; // a WAV Blob made from the microphone, used when no file is chosen

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text; // never innerHTML: names and texts come from files
  return node;
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

const fmt = (v) => (typeof v === "number" ? v.toFixed(3) : "");

async function postForm(path, form) {
  const response = await fetch(path, { method: "POST", body: form });
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`${path}: HTTP ${response.status} without a JSON body`);
  }
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function loadHealth() {
  try {
    const health = await (await fetch("/health")).json();
    const m = health.model;
    model.valueNames = m.value_names;
    model.probabilities = m.probabilities;
    model.modalities = m.modalities;
    $("model").textContent = `${m.architecture || m.fusion} · reads ${m.modalities.join(" + ")} · ` +
      `${m.label_space.target_type}: ${m.value_names.join(", ")} · ` +
      `explanation: ${m.explanation || "unavailable (no modality means)"} · utterances up to ` +
      `${health.limits.max_utterance_s} s`;
    $("model").dataset.ready = "true";
  } catch (e) {
    $("model").textContent = `The model could not be reached: ${e.message}`;
  }
}

// ---------------------------------------------------------------- one utterance
function renderBars(values) {
  const box = $("bars");
  box.replaceChildren();
  const entries = Object.entries(values);
  const scale = model.probabilities ? 1 : Math.max(1e-9, ...entries.map(([, v]) => Math.abs(v)));
  for (const [name, value] of entries) {
    const row = el("div", { class: "bar-row", "data-name": name, "data-value": String(value) });
    const track = el("div", { class: "bar-track" });
    const fill = el("div", { class: "bar-fill" });
    if (model.probabilities) {
      fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
    } else { // scores: a bar from the middle, to the right when positive
      fill.classList.add(value < 0 ? "negative" : "positive");
      fill.style.width = `${(Math.abs(value) / scale) * 50}%`;
    }
    track.append(fill);
    row.append(el("span", {}, name), track, el("span", { class: "value" }, fmt(value)));
    box.append(row);
  }
}

function renderExplanation(explanation) {
  const box = $("explanation");
  box.replaceChildren();
  if (!explanation) return;
  const table = el("table", { id: "explanation-table", "data-method": explanation.method });
  if (explanation.method === "linear_split") {
    box.append(el("h3", {}, "Which modality decided: each logit = speech part + text part + bias"));
    table.append(tableRow("th", ["logit", "value", "speech", "text", "bias"]));
    for (const part of explanation.logits) {
      const tr = tableRow("td", [part.name, fmt(part.logit), fmt(part.speech), fmt(part.text), fmt(part.bias)]);
      const bigger = Math.abs(part.speech) >= Math.abs(part.text) ? 2 : 3;
      tr.children[bigger].classList.add("decided");
      table.append(tr);
    }
  } else {
    const modalities = Object.keys(explanation.change);
    box.append(el("h3", {}, "Which modality decided: change when a modality is replaced by its training mean"));
    table.append(tableRow("th", ["value", ...modalities.map((m) => `without ${m}: change`)]));
    const names = Object.keys(explanation.change[modalities[0]]);
    for (const name of names) table.append(tableRow("td", [name, ...modalities.map((m) => fmt(explanation.change[m][name]))]));
  }
  box.append(table);
}

function tableRow(cell, values) {
  const tr = el("tr");
  values.forEach((v, i) => tr.append(el(cell, i === 0 ? { class: "text" } : {}, String(v))));
  return tr;
}

async function predict() {
  $("predict-error").textContent = "";
  const file = $("audio").files[0];
  const form = new FormData();
  if (file) form.append("audio", file);
  else if (recorded) form.append("audio", recorded, "recording.wav");
  if ($("text").value.trim()) form.append("text", $("text").value);
  form.append("explain", $("explain").checked ? "true" : "false");
  $("predict").disabled = true;
  try {
    const result = await postForm("/predict", form);
    renderBars(result.values);
    renderExplanation(result.explanation);
    $("bars").dataset.done = "true";
  } catch (e) {
    $("predict-error").textContent = e.message;
  } finally {
    $("predict").disabled = false;
  }
}

// ---------------------------------------------------------------- recording (microphone -> WAV)
function wavBlob(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([buffer], { type: "audio/wav" });
}

let recorder = null;
async function toggleRecording() {
  if (recorder) { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      $("record").textContent = "Record";
      const context = new AudioContext();
      const audio = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
      const mono = new Float32Array(audio.length);
      for (let c = 0; c < audio.numberOfChannels; c++) {
        audio.getChannelData(c).forEach((s, i) => { mono[i] += s / audio.numberOfChannels; });
      }
      recorded = wavBlob(mono, audio.sampleRate);
      $("audio").value = "";
      $("player").src = URL.createObjectURL(recorded);
      $("player").hidden = false;
      $("recording-state").textContent = `recorded ${audio.duration.toFixed(1)} s`;
    };
    recorder.start();
    $("record").textContent = "Stop";
    $("recording-state").textContent = "recording…";
  } catch (e) {
    $("predict-error").textContent = `No microphone: ${e.message}`;
  }
}

// ---------------------------------------------------------------- timeline
function renderTimeline(result) {
  const { header, segments } = result;
  $("timeline-summary").textContent = `${header.duration_s.toFixed(1)} s, ${header.speech_regions} speech region(s) ` +
    `found by the ${header.vad} detector, ${segments.length} segment(s) of at most ` +
    `${header.segmentation.max_segment_s} s overlapping by ${header.segmentation.overlap_s} s`;
  const width = 900, height = 240, left = 40, bottom = 24, top = 8;
  const values = segments.filter((s) => s.prediction !== null).map((s) => valuesOf(s.prediction));
  const all = values.flatMap((v) => Object.values(v));
  const [low, high] = header.probabilities ? [0, 1] : [Math.min(0, ...all), Math.max(1e-9, ...all)];
  const x = (t) => left + (t / Math.max(header.duration_s, 1e-9)) * (width - left - 8);
  const y = (v) => top + (1 - (v - low) / (high - low || 1)) * (height - top - bottom);
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "timeline-svg" });
  for (const s of segments) {
    svg.append(svgEl("rect", { x: x(s.start), y: top, width: Math.max(1, x(s.end) - x(s.start)),
                               height: height - top - bottom, fill: "#eeeeee", class: "segment" }));
  }
  header.value_names.forEach((name, k) => {
    let d = "";
    segments.forEach((s) => {
      if (s.prediction === null) return;
      const v = valuesOf(s.prediction)[name];
      d += `M${x(s.start)},${y(v)} L${x(s.end)},${y(v)} `;
    });
    svg.append(svgEl("path", { d, stroke: COLORS[k % COLORS.length], "stroke-width": 2.5, fill: "none",
                               "data-name": name }));
    svg.append(svgEl("text", { x: left + 6 + 90 * k, y: height - 6, style: `fill: ${COLORS[k % COLORS.length]}` },
                     `▬ ${name}`));
  });
  svg.append(svgEl("text", { x: 2, y: top + 10 }, fmt(high)), svgEl("text", { x: 2, y: height - bottom }, fmt(low)));
  svg.append(svgEl("text", { x: width - 60, y: height - 6 }, `${header.duration_s.toFixed(1)} s`));
  $("timeline-chart").replaceChildren(svg);
  const table = $("timeline-table");
  table.replaceChildren(tableRow("th", ["start", "end", "text", ...header.value_names, "error"]));
  for (const s of segments) {
    const v = s.prediction === null ? {} : valuesOf(s.prediction);
    const tr = tableRow("td", [s.start.toFixed(2), s.end.toFixed(2), s.text, ...header.value_names.map((n) => fmt(v[n])),
                               s.error]);
    tr.firstChild.classList.remove("text");
    tr.children[2].classList.add("text");
    tr.classList.add("segment-row");
    table.append(tr);
  }
  $("timeline-chart").dataset.done = "true";
}

function valuesOf(prediction) {
  return typeof prediction === "number" ? { [model.valueNames[0]]: prediction } : prediction;
}

async function timeline() {
  $("timeline-error").textContent = "";
  const form = new FormData();
  const audio = $("timeline-audio").files[0];
  if (audio) form.append("audio", audio);
  const transcript = $("timeline-transcript").files[0];
  if (transcript) form.append("transcript", transcript);
  $("timeline").disabled = true;
  try {
    renderTimeline(await postForm("/timeline", form));
  } catch (e) {
    $("timeline-error").textContent = e.message;
  } finally {
    $("timeline").disabled = false;
  }
}

$("predict").addEventListener("click", predict);
$("record").addEventListener("click", toggleRecording);
$("timeline").addEventListener("click", timeline);
$("audio").addEventListener("change", () => { recorded = null; $("player").hidden = true; });
loadHealth();
