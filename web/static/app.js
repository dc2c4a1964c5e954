// The page: upload, follow one job, review its labels. Talks only to /api (see /openapi.json).
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 120;
const state = { job: null, offset: 0, polling: null, lastDone: -1, items: new Map(), limits: null,
                loads: 0 };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (response.status === 401) location.replace("/login");  // signed out, or the session ended
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

// ---- service and recent jobs -------------------------------------------------------------

async function refreshService() {
  try {
    const health = await api("/api/health");
    state.limits = health;
    $("service").textContent = `model ${health.model} · ${health.workers} worker(s) online`;
  } catch (err) {
    $("service").textContent = `cannot reach the server: ${err.message}`;
  }
}

async function refreshJobList() {
  const { jobs } = await api("/api/jobs");
  const picker = $("job-picker");
  picker.replaceChildren(new Option(`choose one of ${jobs.length} recent jobs`, ""));
  for (const job of jobs) {
    const when = new Date(job.created * 1000).toLocaleString();
    picker.add(new Option(`${job.job} · ${job.total} images · ${job.state} · ${when}`, job.job));
  }
  showOpenJob();
}

// The picker names the job on screen (one opened from a link may be older than the list).
function showOpenJob() {
  const picker = $("job-picker");
  if (state.job && ![...picker.options].some((o) => o.value === state.job)) {
    picker.add(new Option(state.job, state.job));
  }
  picker.value = state.job || "";
}

// ---- upload ------------------------------------------------------------------------------

function chosenFiles() {
  // A folder keeps its sub-folder names (often the true classes); loose files are names only.
  return [...$("files").files, ...$("folder").files];
}

function showChosen() {
  const files = chosenFiles();
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  $("chosen").textContent = files.length
    ? `${files.length} file(s), ${(bytes / 2 ** 20).toFixed(1)} MiB` : "nothing chosen";
  $("upload").disabled = files.length === 0;
}

function tooBig(files) {
  // The server refuses these too, but refusing here gives a message instead of a reset socket.
  if (!state.limits) return null;
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  if (files.length > state.limits.max_files) return `at most ${state.limits.max_files} files per upload`;
  if (bytes > state.limits.max_upload_bytes) {
    return `at most ${(state.limits.max_upload_bytes / 2 ** 20).toFixed(0)} MiB per upload`;
  }
  return null;
}

function upload() {
  const problem = tooBig(chosenFiles());
  if (problem) return showUploadError(problem);
  const form = new FormData();
  for (const file of chosenFiles()) form.append("files", file, file.webkitRelativePath || file.name);
  const request = new XMLHttpRequest();
  request.open("POST", "/api/jobs");
  request.setRequestHeader("X-Labeler", "1");
  request.upload.onprogress = (e) => {
    if (e.lengthComputable) $("chosen").textContent = `uploading ${Math.round(100 * e.loaded / e.total)} %`;
  };
  request.onload = () => {
    let body = {};
    try { body = JSON.parse(request.responseText); } catch (_) { /* not JSON */ }
    $("upload").disabled = false;
    if (request.status !== 201) return showUploadError(body.detail || request.statusText);
    $("upload-error").hidden = true;
    const skipped = Object.keys(body.skipped || {}).length;
    $("chosen").textContent = `${body.total} image(s) submitted` + (skipped ? `, ${skipped} file(s) skipped` : "");
    openJob(body.job);
    refreshJobList();
  };
  request.onerror = () => { $("upload").disabled = false; showUploadError("the upload failed"); };
  $("upload").disabled = true;
  request.send(form);
}

function showUploadError(message) {
  const box = $("upload-error");
  box.textContent = typeof message === "string" ? message : JSON.stringify(message);
  box.hidden = false;
}

// ---- one job -----------------------------------------------------------------------------

function openJob(id) {
  if (!id) return;
  state.job = id;
  state.lastDone = -1;
  $("job").hidden = false;
  $("job-id").textContent = id;
  showOpenJob();
  const base = `/api/jobs/${encodeURIComponent(id)}`;
  $("dl-csv").href = `${base}/results.csv`;
  $("dl-jsonl").href = `${base}/results.jsonl`;
  $("dl-parquet").href = `${base}/results.parquet`;
  $("dl-ls").href = `${base}/labelstudio.json`;
  $("dl-ls-config").href = `${base}/labelstudio-config.xml`;
  $("dl-reviewed").href = `${base}/reviewed.csv`;
  $("duplicates").replaceChildren();
  $("duplicates-summary").textContent = "";
  clearInterval(state.polling);
  state.polling = setInterval(poll, 700);
  poll();
}

async function poll() {
  let job;
  try {
    job = await api(`/api/jobs/${encodeURIComponent(state.job)}`);
  } catch (err) {
    $("progress-text").textContent = err.message;
    clearInterval(state.polling);
    return;
  }
  const done = job.labelled + job.failed;
  $("progress").max = job.total || 1;
  $("progress").value = done;
  $("job-state").textContent = job.state;
  $("job-state").className = `badge ${job.state}`;
  let text = `${done} / ${job.total} done · ${job.labelled} labelled · ${job.failed} failed`;
  if (job.images_per_second) text += ` · ${job.images_per_second} images/s`;
  if (job.state !== "done" && !job.workers) text += " · waiting for a worker";
  $("progress-text").textContent = text;
  showCounts(job);
  if (done !== state.lastDone) {
    state.lastDone = done;
    loadItems(true);
  }
  if (job.state === "done") { clearInterval(state.polling); refreshService(); }
}

function itemQuery(offset) {
  const params = new URLSearchParams({ sort: $("sort").value, offset, limit: PAGE });
  if ($("label-filter").value) params.set("label", $("label-filter").value);
  params.set("below", $("review-threshold").value);
  if (!$("review-only").checked) params.delete("below");
  if ($("unreviewed-only").checked) params.set("unreviewed", "true");
  return params;
}

async function loadItems(reset) {
  if (!state.job) return;
  if (reset) state.offset = 0;
  // Filters change faster than replies arrive: only the latest request may draw the grid,
  // or a slow reply to an older filter would overwrite a newer one.
  const load = ++state.loads;
  const base = `/api/jobs/${encodeURIComponent(state.job)}`;
  const page = await api(`${base}/items?${itemQuery(state.offset)}`);
  const review = await api(`${base}/items?limit=1&below=${$("review-threshold").value}`);
  if (load !== state.loads) return;
  $("review-count").textContent = review.needs_review;
  fillLabelFilter(page.labels);
  reviewing.classes = page.classes;
  const grid = $("grid");
  if (reset) { grid.replaceChildren(); state.items.clear(); }
  for (const item of page.items) grid.append(tile(item));
  state.offset += page.items.length;
  $("matched").textContent = `${page.matched} of ${page.total} shown by this filter`;
  $("more").hidden = state.offset >= page.matched;
}

function fillLabelFilter(labels) {
  const select = $("label-filter");
  const chosen = select.value;
  select.replaceChildren(new Option("all", ""));
  for (const [label, count] of Object.entries(labels)) {
    select.add(new Option(`${label} (${count})`, label));
  }
  select.value = chosen in labels || chosen === "" ? chosen : "";
}

function tile(item) {
  state.items.set(item.path, item);
  const li = document.createElement("li");
  const threshold = Number($("review-threshold").value);
  li.className = "tile" + (item.error ? " failed" : item.confidence < threshold ? " review" : "");
  li.tabIndex = 0;
  li.dataset.path = item.path;
  li.dataset.label = item.label || "";
  li.dataset.confidence = item.confidence ?? "";
  li.title = item.path;
  let img;
  if (item.error) {
    // Nothing to show for an image that could not be decoded: show why instead.
    img = document.createElement("div");
    img.className = "reason";
    img.textContent = item.error;
  } else {
    img = document.createElement("img");
    img.loading = "lazy";
    img.alt = item.path;
    img.src = imageUrl(item, 192);
  }
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = item.path.split("/").pop();
  const caption = document.createElement("div");
  caption.className = "caption";
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = item.label || "failed";
  label.title = item.error || item.path;
  const confidence = document.createElement("span");
  confidence.className = "confidence";
  confidence.textContent = item.confidence == null ? "" : item.confidence.toFixed(2);
  caption.append(label, confidence);
  li.append(img, name, caption);
  markTile(li, item);
  li.addEventListener("click", () => showDetail(item));
  li.addEventListener("keydown", (e) => { if (e.key === "Enter") showDetail(item); });
  return li;
}

// By index: the server finds the file at once, even in a job of a million images.
function imageUrl(item, size) {
  return `/api/jobs/${encodeURIComponent(state.job)}/image?size=${size}&index=${item.index}`;
}

function showDetail(item) {
  $("detail-image").hidden = Boolean(item.error);
  if (!item.error) $("detail-image").src = imageUrl(item, 512);
  $("detail-image").alt = item.path;
  $("detail-path").textContent = item.path;
  $("detail-error").hidden = !item.error;
  $("detail-error").textContent = item.error || "";
  const body = $("detail-topk").tBodies[0];
  body.replaceChildren();
  for (const [label, p] of item.top_k || []) {
    const row = body.insertRow();
    row.insertCell().textContent = label;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${Math.max(0.5, p * 100)}%`;
    const track = document.createElement("div");
    track.className = "track";
    track.append(bar);
    row.insertCell().append(track);
    row.insertCell().textContent = p < 0.001 ? "< 0.1 %" : `${(p * 100).toFixed(1)} %`;
  }
  $("detail-model").textContent = item.model ? `model ${item.model}` : "";
  showChoices(item);
  if (!$("detail").open) $("detail").showModal();
}

// Groups of near-identical images, from the signatures the workers kept while labelling.
async function findDuplicates() {
  const box = $("duplicates");
  box.replaceChildren();
  $("duplicates-summary").textContent = "searching...";
  try {
    const found = await api(`/api/jobs/${encodeURIComponent(state.job)}/duplicates`);
    $("duplicates-summary").textContent = found.summary +
      (found.groups > found.shown ? ` (the ${found.shown} largest shown)` : "");
    const groups = new Map();
    for (const row of found.rows) {
      if (!groups.has(row.group)) groups.set(row.group, []);
      groups.get(row.group).push(row);
    }
    for (const [group, rows] of groups) {
      const heading = document.createElement("h3");
      heading.textContent = `Group ${group}: ${rows.length} images`;
      const list = document.createElement("ul");
      list.className = "grid duplicate-group";
      list.append(...rows.map(tile));
      box.append(heading, list);
    }
  } catch (error) {
    $("duplicates-summary").textContent = error.message;
  }
}

// Who is signed in, and a way out, when the server has sign-in on.
async function showUser() {
  const me = await api("/api/login").catch(() => ({}));
  if (!me.mode || !me.user) return;
  $("user-name").textContent = me.user;
  $("signed-in").hidden = false;
  $("sign-out").hidden = me.mode === "proxy";  // the proxy signs people out, not labeler
  $("sign-out").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", headers: { "X-Labeler": "1" } });
    location.replace("/login");
  });
}

// ---- wiring ------------------------------------------------------------------------------

function wire() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    $("files").files = e.dataTransfer.files;
    showChosen();
  });
  $("files").addEventListener("change", showChosen);
  $("folder").addEventListener("change", showChosen);
  $("upload").addEventListener("click", upload);
  $("job-picker").addEventListener("change", (e) => openJob(e.target.value));
  wireReview();
  for (const id of ["label-filter", "sort", "review-only", "unreviewed-only"]) {
    $(id).addEventListener("change", () => loadItems(true));
  }
  $("review-threshold").addEventListener("input", () => {
    $("review-value").textContent = Number($("review-threshold").value).toFixed(2);
  });
  $("review-threshold").addEventListener("change", () => loadItems(true));
  $("more").addEventListener("click", () => loadItems(false));
  $("find-duplicates").addEventListener("click", findDuplicates);
  showUser();
  refreshService();
  setInterval(refreshService, 5000);
  refreshJobList().catch(() => {});
  const wanted = new URLSearchParams(location.search).get("job");
  if (wanted) openJob(wanted);
}

wire();
