// The residents' page: report a problem, then follow it. Plain JavaScript, no build step.
// Every piece of text from the server is put in the page with textContent, never as HTML.
"use strict";

const TEXT = {
  zh: {
    title: "随手拍", reportHeading: "报告一个街面问题", photosLegend: "照片（1 至 6 张）",
    choosePhotos: "拍照或选择照片", whereLegend: "位置", useLocation: "使用我的位置",
    mapHint: "或在地图上点选位置；若照片带有定位，也可留空。", lat: "纬度", lon: "经度",
    placeIs: "所选位置：", outside: "所选位置不在本市服务范围内。",
    address: "地址（没有定位时，按地址找位置，如：黄浦区人民大道200号）",
    whatLegend: "问题类别", description: "描述", chooseCategory: "请选择类别",
    contact: "联系方式（选填，仅用于通知您进展，不会公开）", submit: "提交", sending: "正在提交…",
    myReports: "我的报告", caseHeading: "案件", category: "类别", department: "责任部门",
    deadline: "处置时限", reportedAt: "上报时间", photos: "照片", timeline: "进展",
    addComment: "补充说明", send: "发送", addPhoto: "补充照片", rate: "对处置结果评价",
    s5: "非常满意", s4: "满意", s3: "一般", s2: "不满意", s1: "非常不满意",
    reopen: "问题没有解决？申请重新处理", newReport: "再报告一个问题",
    locating: "正在定位…", noGeo: "无法获取位置：", tooMany: "最多 6 张照片",
    processing: "处理中", photosBefore: "上报时", photosAfter: "处置后", noPhotos: "暂无公开的照片",
    network: "网络不稳定，请重试（不会重复提交）。",
    duplicate: "附近已有相同问题的案件，您的报告已并入案件 ", yourReport: "您的报告编号 ",
    notFound: "没有找到这个报告。", rateLimited: "提交过于频繁，请稍后再试：",
    pending: "待定", component: "部件", event: "事件", thanks: "已收到，谢谢！",
    busy: "系统繁忙，正在重试…", busyLater: "系统繁忙，未能发送，请稍后再试。",
    stillBusy: "系统繁忙，报告尚未提交。请稍后再试（不会重复提交）。",
  },
  en: {
    title: "Report it", reportHeading: "Report a street problem", photosLegend: "Photos (1 to 6)",
    choosePhotos: "Take or choose photos", whereLegend: "Where", useLocation: "Use my location",
    mapHint: "Or tap the map. If a photo carries its location, you may leave this empty.",
    placeIs: "You chose: ", outside: "That place is outside the city's service area.",
    lat: "Latitude", lon: "Longitude", whatLegend: "What", description: "Description",
    address: "Address (without a location, the report is placed at this address)",
    chooseCategory: "Choose a category",
    contact: "Phone or e-mail (optional: only to tell you of progress, never shown)",
    submit: "Submit", sending: "Sending…", myReports: "My reports", caseHeading: "Case",
    category: "Category", department: "Department", deadline: "Due by", reportedAt: "Reported",
    photos: "Photos", timeline: "Progress", addComment: "Add a comment", send: "Send",
    addPhoto: "Add photos", rate: "How was it handled?", s5: "Very satisfied", s4: "Satisfied",
    s3: "Neutral", s2: "Dissatisfied", s1: "Very dissatisfied",
    reopen: "Not fixed? Ask for it to be reopened", newReport: "Report another problem",
    locating: "Finding you…", noGeo: "Location unavailable: ", tooMany: "At most 6 photos",
    processing: "processing", photosBefore: "As reported", photosAfter: "After handling",
    noPhotos: "No photos to show", network: "Network trouble; try again (it will not be sent twice).",
    duplicate: "The same problem was already reported nearby; your report joined case ",
    yourReport: "Your report number ", notFound: "No report has this link.",
    rateLimited: "Too many reports; try again in ", pending: "pending", component: "Component",
    event: "Event", thanks: "Received, thank you!",
    busy: "Busy; trying again…", busyLater: "The service is busy and nothing was sent; try again in a moment.",
    stillBusy: "The service is busy and your report is not sent yet. Try again in a moment (it will not be sent twice).",
  },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("lang")
  || ((navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en");
let categories = [];
let chosen = [];
let idempotencyKey = null;
let tracked = null;
let pollTimer = null;

function t(key) { return (TEXT[lang] && TEXT[lang][key]) || TEXT.zh[key] || key; }

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} · ${lang === "zh" ? "Report a street problem" : "随手拍"}`;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = lang === "zh" ? "EN" : "中文";
  renderCategories();
  renderMine();
  if (tracked) renderTrack(tracked);
}

$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("lang", lang);
  applyLanguage();
});

// ---- routing: #/ is the form, #/t/<token> follows a report ---------------------------------
function route() {
  const match = location.hash.match(/^#\/t\/([A-Za-z0-9_-]{16,64})$/);
  clearTimeout(pollTimer);
  tracked = null;
  $("report-view").hidden = Boolean(match);
  $("track-view").hidden = !match;
  if (match) loadTrack(match[1]);
  window.scrollTo(0, 0);
}
window.addEventListener("hashchange", route);

// ---- categories ------------------------------------------------------------------------------
async function loadCategories() {
  const answer = await fetch("/api/v1/categories");
  categories = answer.ok ? await answer.json() : [];
  renderCategories();
}

function renderCategories() {
  const select = $("category");
  const current = select.value;
  select.replaceChildren();
  const placeholder = new Option(t("chooseCategory"), "");
  placeholder.disabled = true;
  select.append(placeholder);
  const groups = new Map();
  for (const c of categories) {
    const label = `${t(c.family)} · ${lang === "en" ? c.major_name_en : c.major_name_zh}`;
    if (!groups.has(label)) {
      const group = document.createElement("optgroup");
      group.label = label;
      groups.set(label, group);
      select.append(group);
    }
    groups.get(label).append(new Option(lang === "en" ? c.name_en : c.name_zh, c.code));
  }
  select.value = current || "";
}

// ---- photos ----------------------------------------------------------------------------------
$("photos").addEventListener("change", (event) => {
  for (const file of event.target.files) {
    if (chosen.length >= 6) { showError("photos", t("tooMany")); break; }
    chosen.push(file);
  }
  event.target.value = "";
  idempotencyKey = null;
  renderPreviews();
});

function renderPreviews() {
  const box = $("previews");
  box.replaceChildren();
  chosen.forEach((file, index) => {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = file.name;
    img.title = "×";
    img.addEventListener("click", () => { chosen.splice(index, 1); renderPreviews(); });
    box.append(img);
  });
}

// ---- the map: the city's own districts and streets as SVG, a tap places the pin ---------------
const map = { view: null, full: null, scale: 1000, cos: 1, bbox: null, pin: null, areas: [], labels: [], chosen: null };

async function loadMap() {
  const answer = await fetch("/api/v1/map");
  if (!answer.ok) return;
  const city = await answer.json();
  const [minx, miny, maxx, maxy] = city.bbox;
  map.bbox = city.bbox;
  map.cos = Math.cos(((miny + maxy) / 2) * Math.PI / 180);
  const svg = $("map");
  const ns = "http://www.w3.org/2000/svg";
  const streets = document.createElementNS(ns, "g");
  const districts = document.createElementNS(ns, "g");
  const names = document.createElementNS(ns, "g");
  for (const area of city.areas) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", area.rings.map((ring) => "M" + ring.map(([x, y]) => project(x, y).join(" ")).join("L") + "Z").join(""));
    if (area.level === 1) path.setAttribute("class", "district");
    const title = document.createElementNS(ns, "title");
    title.textContent = area.name;
    path.append(title);
    (area.level === 1 ? districts : streets).append(path);
    map.areas.push({ ...area, path });
    if (area.label) {
      // The area's name on the map: districts always, streets once zoomed in (showView).
      const text = document.createElementNS(ns, "text");
      const [x, y] = project(area.label[0], area.label[1]);
      text.setAttribute("x", x);
      text.setAttribute("y", y);
      text.setAttribute("text-anchor", "middle");
      text.setAttribute("class", area.level === 1 ? "district-label" : "street-label");
      text.textContent = area.name;
      names.append(text);
      map.labels.push({ text, level: area.level });
    }
  }
  svg.append(streets, districts, names);
  const [x0, y0] = project(minx, maxy);
  const [x1, y1] = project(maxx, miny);
  map.full = [x0, y0, x1 - x0, y1 - y0];
  map.view = [...map.full];
  showView();
}

function project(lon, lat) {
  return [(lon - map.bbox[0]) * map.cos * map.scale, (map.bbox[3] - lat) * map.scale];
}

function unproject(x, y) {
  return [map.bbox[0] + x / (map.cos * map.scale), map.bbox[3] - y / map.scale];
}

function showView() {
  $("map").setAttribute("viewBox", map.view.join(" "));
  // Names keep a readable size on screen whatever the zoom: sizes are in the map's own units.
  const width = map.view[2];
  const zoomedIn = width < map.full[2] * 0.45;
  for (const { text, level } of map.labels) {
    const size = width / (level === 1 ? 22 : 34);
    text.style.fontSize = `${size}px`;
    text.style.strokeWidth = `${size / 5}px`;
    text.style.display = level === 1 ? (zoomedIn ? "none" : "") : (zoomedIn ? "" : "none");
  }
}

// Which street (and district) a point lies in: ray casting on the drawn outlines.
function inside(lon, lat, rings) {
  let hit = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) hit = !hit;
    }
  }
  return hit;
}

function nameTapped(lat, lon) {
  const found = (level) => map.areas.find((a) => a.level === level && inside(lon, lat, a.rings));
  const district = found(1), street = found(2);
  if (map.chosen) map.chosen.classList.remove("chosen");
  map.chosen = street ? street.path : null;
  if (map.chosen) map.chosen.classList.add("chosen");
  const words = [district, street].filter(Boolean).map((a) => a.name).join(" · ");
  $("place").textContent = words ? `${t("placeIs")}${words}` : (map.areas.length ? t("outside") : "");
}

function zoom(factor) {
  if (!map.view) return;
  const [x, y, w, h] = map.view;
  const cx = x + w / 2, cy = y + h / 2;
  const nw = Math.min(map.full[2] * 1.2, Math.max(map.full[2] / 200, w * factor));
  const nh = nw * (h / w);
  map.view = [cx - nw / 2, cy - nh / 2, nw, nh];
  showView();
}
$("zoom-in").addEventListener("click", () => zoom(0.5));
$("zoom-out").addEventListener("click", () => zoom(2));

function svgPoint(event) {
  const svg = $("map");
  const point = svg.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  return point.matrixTransform(svg.getScreenCTM().inverse());
}

let drag = null;
$("map").addEventListener("pointerdown", (event) => {
  drag = { x: event.clientX, y: event.clientY, start: svgPoint(event), view: [...(map.view || [])], moved: false };
  $("map").setPointerCapture(event.pointerId);
});
$("map").addEventListener("pointermove", (event) => {
  if (!drag || !map.view) return;
  if (Math.hypot(event.clientX - drag.x, event.clientY - drag.y) > 6) drag.moved = true;
  if (!drag.moved) return;
  const svg = $("map");
  const rect = svg.getBoundingClientRect();
  const perPixel = Math.max(drag.view[2] / rect.width, drag.view[3] / rect.height);
  map.view = [drag.view[0] - (event.clientX - drag.x) * perPixel, drag.view[1] - (event.clientY - drag.y) * perPixel, drag.view[2], drag.view[3]];
  showView();
});
$("map").addEventListener("pointerup", (event) => {
  if (drag && !drag.moved && map.bbox) {
    const p = svgPoint(event);
    const [lon, lat] = unproject(p.x, p.y);
    setLocation(lat, lon);
  }
  drag = null;
});

function setLocation(lat, lon) {
  $("lat").value = lat.toFixed(6);
  $("lon").value = lon.toFixed(6);
  $("crs").value = "wgs84";
  placePin(lat, lon);
  nameTapped(lat, lon);
  showError("lat", "");
}

function placePin(lat, lon) {
  if (!map.bbox) return;
  const ns = "http://www.w3.org/2000/svg";
  if (!map.pin) {
    map.pin = document.createElementNS(ns, "circle");
    map.pin.setAttribute("class", "pin");
    $("map").append(map.pin);
  }
  const [x, y] = project(lon, lat);
  map.pin.setAttribute("cx", x);
  map.pin.setAttribute("cy", y);
  map.pin.setAttribute("r", Math.max(map.view[2], map.view[3]) / 60);
}

$("locate").addEventListener("click", () => {
  if (!navigator.geolocation) { showError("lat", t("noGeo")); return; }
  $("locate").textContent = t("locating");
  navigator.geolocation.getCurrentPosition(
    (position) => {
      $("locate").textContent = t("useLocation");
      setLocation(position.coords.latitude, position.coords.longitude);
    },
    (error) => {
      $("locate").textContent = t("useLocation");
      showError("lat", t("noGeo") + error.message);
    },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
  );
});

// ---- submitting ------------------------------------------------------------------------------
function showError(field, message) {
  const el = document.querySelector(`[data-field="${field}"]`) || $("form-error");
  el.textContent = message;
}

function clearErrors() {
  document.querySelectorAll("#report .error").forEach((el) => { el.textContent = ""; });
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

$("report").addEventListener("input", () => { idempotencyKey = null; });

// 503 means busy or briefly away and nothing was kept: wait as told and send again, a few
// times, before asking the resident to.
async function post(url, options, onBusy) {
  for (let attempt = 0; ; attempt++) {
    const answer = await fetch(url, { method: "POST", ...options });
    if (answer.status !== 503 || attempt === 3) return answer;
    onBusy();
    const wait = Math.min(30, Number(answer.headers.get("Retry-After")) || 2);
    await new Promise((done) => setTimeout(done, wait * 1000));
  }
}

$("report").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  if (chosen.length === 0) { showError("photos", t("photosLegend")); return; }
  if (!$("category").value) { showError("category", t("chooseCategory")); return; }
  const data = new FormData();
  chosen.forEach((file) => data.append("photos", file, file.name));
  for (const name of ["category", "lat", "lon", "crs", "address", "description", "contact"]) {
    data.append(name, $(name).value.trim());
  }
  // The same key on a retry: a report the server already stored is not stored twice.
  idempotencyKey = idempotencyKey || newKey();
  const button = $("submit");
  button.disabled = true;
  button.textContent = t("sending");
  try {
    const answer = await post("/api/v1/reports", {
      body: data,
      headers: { "Idempotency-Key": idempotencyKey, "X-Urbangrid-Client": "web" },
    }, () => { button.textContent = t("busy"); });
    const body = await answer.json().catch(() => ({}));
    if (answer.ok) {
      remember(body);
      idempotencyKey = null;
      chosen = [];
      renderPreviews();
      $("report").reset();
      location.hash = `#/t/${body.tracking_token}`;
      return;
    }
    if (answer.status === 503) {
      showError("form", t("stillBusy"));  // the key stays: sending again cannot store it twice
      return;
    }
    idempotencyKey = null;
    if (answer.status === 429) {
      showError("form", t("rateLimited") + (answer.headers.get("Retry-After") || "60") + " s");
    } else if (Array.isArray(body.detail)) {
      for (const error of body.detail) showError(String(error.loc[error.loc.length - 1]), error.msg);
    } else {
      showError("form", body.detail || answer.statusText);
    }
  } catch (error) {
    showError("form", t("network"));
  } finally {
    button.disabled = false;
    button.textContent = t("submit");
  }
});

function remember(accepted) {
  const mine = JSON.parse(localStorage.getItem("reports") || "[]");
  mine.unshift({ id: accepted.id, token: accepted.tracking_token, at: new Date().toISOString() });
  localStorage.setItem("reports", JSON.stringify(mine.slice(0, 20)));
}

function renderMine() {
  const mine = JSON.parse(localStorage.getItem("reports") || "[]");
  $("mine").hidden = mine.length === 0;
  const list = $("mine-list");
  list.replaceChildren();
  for (const report of mine) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#/t/${report.token}`;
    link.textContent = `#${report.id} · ${new Date(report.at).toLocaleString(lang === "zh" ? "zh-CN" : "en")}`;
    item.append(link);
    list.append(item);
  }
}

// ---- following a report ----------------------------------------------------------------------
async function loadTrack(token) {
  $("t-error").textContent = "";
  let answer;
  try {
    answer = await fetch(`/api/v1/track/${token}`);
  } catch (error) {
    $("t-error").textContent = t("network");
    return;
  }
  if (!answer.ok) {
    $("t-error").textContent = answer.status === 404 ? t("notFound") : answer.statusText;
    return;
  }
  tracked = { token, view: await answer.json() };
  renderTrack(tracked);
  const settled = ["CLOSED", "VOID"].includes(tracked.view.state);
  const pending = tracked.view.photos.some((p) => !p.ready);
  if (!settled || pending) pollTimer = setTimeout(() => loadTrack(token), 5000);
}

function when(text) {
  return text ? new Date(text).toLocaleString(lang === "zh" ? "zh-CN" : "en") : t("pending");
}

function renderTrack({ token, view }) {
  $("t-id").textContent = `#${view.case_id}`;
  const duplicate = $("t-duplicate");
  duplicate.hidden = view.duplicate_of === null;
  duplicate.textContent = view.duplicate_of === null ? "" : `${t("duplicate")}#${view.duplicate_of}. ${t("yourReport")}#${view.id}.`;
  $("t-status").textContent = lang === "en" ? view.status_en : view.status_zh;
  $("t-category").textContent = lang === "en" ? view.category.name_en : view.category.name_zh;
  const department = lang === "en" ? view.department_en : view.department;
  $("t-department").textContent = department || t("pending");
  $("t-deadline").textContent = when(view.deadline);
  $("t-created").textContent = when(view.created_at);
  // The photos as reported, then those the department sent when it handled the problem:
  // the resident sees the closed loop's evidence side by side, each row named.
  const photos = $("t-photos");
  photos.replaceChildren();
  for (const kind of ["before", "after"]) {
    const mine = view.photos.filter((photo) => photo.kind === kind);
    if (mine.length === 0) continue;
    const heading = document.createElement("h3");
    heading.textContent = t(kind === "before" ? "photosBefore" : "photosAfter");
    const row = document.createElement("div");
    row.className = "previews";
    row.dataset.kind = kind;
    for (const photo of mine) {
      if (photo.ready && photo.thumb_url) {
        const link = document.createElement("a");
        link.href = photo.url;
        const img = document.createElement("img");
        img.src = photo.thumb_url;
        img.alt = heading.textContent;
        link.append(img);
        row.append(link);
      } else {
        const box = document.createElement("div");
        box.className = "pending";
        box.textContent = t("processing");
        row.append(box);
      }
    }
    photos.append(heading, row);
  }
  if (view.photos.length === 0) {
    const none = document.createElement("p");
    none.className = "hint";
    none.textContent = t("noPhotos");
    photos.append(none);
  }
  const timeline = $("t-timeline");
  timeline.replaceChildren();
  for (const entry of view.timeline) {
    const item = document.createElement("li");
    if (entry.yours) item.className = "yours";
    const time = document.createElement("time");
    time.dateTime = entry.at;
    time.textContent = when(entry.at);
    const text = document.createElement("div");
    text.textContent = lang === "en" ? entry.text_en : entry.text_zh;
    item.append(time, text);
    if (entry.note) {
      const note = document.createElement("div");
      note.className = "hint";
      note.textContent = entry.note;
      item.append(note);
    }
    timeline.append(item);
  }
  $("t-comment").hidden = !view.actions.includes("comment");
  $("t-photo").hidden = !view.actions.includes("photo");
  $("t-rate").hidden = !view.actions.includes("rate");
  $("t-reopen").hidden = !view.actions.includes("reopen");
}

async function act(path, options) {
  $("t-error").textContent = "";
  const answer = await post(`/api/v1/track/${tracked.token}/${path}`, options, () => {
    $("t-error").textContent = t("busy");
  });
  const body = await answer.json().catch(() => ({}));
  $("t-error").textContent = "";
  if (answer.status === 503) {
    $("t-error").textContent = t("busyLater");
    return;
  }
  if (!answer.ok) {
    const detail = Array.isArray(body.detail) ? body.detail.map((e) => e.msg).join("; ") : body.detail;
    $("t-error").textContent = detail || answer.statusText;
    return;
  }
  tracked = { token: tracked.token, view: body };
  renderTrack(tracked);
}

function json(body) {
  return { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
}

$("t-comment").addEventListener("submit", async (event) => {
  event.preventDefault();
  await act("comments", json({ text: $("t-comment-text").value }));
  $("t-comment-text").value = "";
});
$("t-photo-file").addEventListener("change", async (event) => {
  const data = new FormData();
  for (const file of Array.from(event.target.files).slice(0, 6)) data.append("photos", file, file.name);
  event.target.value = "";
  await act("photos", { body: data });
});
$("t-rate").addEventListener("submit", async (event) => {
  event.preventDefault();
  const score = Number(new FormData(event.target).get("score"));
  await act("rating", json({ score, comment: $("t-rate-comment").value }));
});
$("t-reopen").addEventListener("submit", async (event) => {
  event.preventDefault();
  await act("reopen", json({ reason: $("t-reopen-reason").value }));
});

applyLanguage();
route();
loadCategories();
loadMap();
