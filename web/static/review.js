// Reviewing in the page. In the detail view: number keys (1-9, 0 for the tenth) pick the
// right class, Enter accepts the model's label, arrows move; each decision is saved at once,
// with who made it, and the next image opens. Also: accept every label above a confidence
// (counted before it happens) and the "not yet reviewed" filter.
"use strict";

const reviewing = { classes: [], current: null };

function reviewUrl(path) {
  return `/api/jobs/${encodeURIComponent(state.job)}/${path}`;
}

function postJson(path, body) {
  return api(reviewUrl(path), { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Labeler": "1" } });
}

function modelLabel(item) { return item.review ? item.review.model : item.label; }

// A tile's look once reviewed: the reviewed label, and what the model said if it differs.
function markTile(li, item) {
  if (!item.review) return;
  li.classList.add("reviewed");
  li.classList.toggle("corrected", item.review.source === "corrected");
  const label = li.querySelector(".label");
  label.textContent = item.review.label;
  label.title = `${item.review.source} by ${item.review.by}` +
    (item.review.source === "corrected" ? ` (model: ${item.review.model})` : "");
}

function showChoices(item) {
  reviewing.current = item;
  const box = $("detail-classes");
  box.replaceChildren();
  box.hidden = Boolean(item.error);
  reviewing.classes.forEach((name, n) => {
    const choice = document.createElement("button");
    choice.type = "button";
    choice.className = "choice" + (name === (item.review?.label ?? item.label) ? " current" : "");
    choice.textContent = n < 10 ? `${(n + 1) % 10} ${name}` : name;
    choice.addEventListener("click", () => decide(item, name));
    box.append(choice);
  });
  $("detail-review").textContent = item.error ? "" : item.review
    ? `${item.review.source} by ${item.review.by}` : "not reviewed yet (Enter accepts)";
}

async function decide(item, label) {
  const reply = await postJson("reviews", { labels: { [item.index]: label } });
  if (!reply.reviewed) return;
  const model = modelLabel(item);
  item.review = { label, model, by: "you",
                  source: label === model ? "accepted" : "corrected" };
  const li = [...$("grid").children].find((t) => t.dataset.path === item.path);
  if (li) markTile(li, item);
  showCounts(reply);
  step(1);
}

function step(delta) {
  const tiles = [...$("grid").children];
  const at = tiles.findIndex((t) => t.dataset.path === reviewing.current?.path);
  const next = tiles[at + delta];
  if (next) showDetail(state.items.get(next.dataset.path));
  else $("detail").close();
}

function onDetailKey(event) {
  const item = reviewing.current;
  if (!$("detail").open || !item || event.target.tagName === "INPUT") return;
  if (/^[0-9]$/.test(event.key) && !item.error) {
    const name = reviewing.classes[(Number(event.key) + 9) % 10];
    if (name) decide(item, name);
  } else if (event.key === "Enter" && !item.error) {
    decide(item, item.review?.label ?? item.label);
  } else if (event.key === "ArrowRight" || event.key === "ArrowDown") {
    step(1);
  } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
    step(-1);
  } else {
    return;
  }
  event.preventDefault();
}

function showCounts(counts) {
  $("review-state").textContent = counts.reviewed
    ? `${counts.reviewed} reviewed · ${counts.corrected} corrected` : "";
}

async function countAcceptable() {
  const above = Number($("accept-above").value);
  const { count } = await api(`${reviewUrl("accept")}?above=${above}`);
  $("accept-text").textContent = `${count} labels at or above ${above.toFixed(2)} not yet ` +
    "reviewed will be accepted.";
  $("accept-go").hidden = count === 0;
  $("accept-confirm").hidden = false;
}

async function acceptAbove() {
  const reply = await postJson("accept", { above: Number($("accept-above").value) });
  $("accept-confirm").hidden = true;
  showCounts(reply);
  loadItems(true);
}

function wireReview() {
  document.addEventListener("keydown", onDetailKey);
  $("accept-count").addEventListener("click", countAcceptable);
  $("accept-go").addEventListener("click", acceptAbove);
  $("accept-above").addEventListener("input", () => { $("accept-confirm").hidden = true; });
}
