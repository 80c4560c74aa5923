/**
 * The page `mpl serve` answers on GET /: choose (or drop) an image, it is posted to /predict as multipart
 * `image`, and the top labels appear with their probabilities as bars. Self-contained (no external files, works
 * offline); every text from the server is inserted as text, never as HTML.
 */

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function servePage(info: Record<string, unknown>): string {
  const facts = [info.method_name ?? info.method, info.backbone, info.classes !== undefined ? `${String(info.classes)} classes` : undefined]
    .filter((x) => x !== undefined && x !== null && x !== '')
    .map((x) => escapeHtml(String(x)))
    .join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mpl serve</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  .facts { color: #666; margin-top: 0; }
  #drop { border: 2px dashed #aaa; border-radius: 8px; padding: 1.2rem; text-align: center; }
  #drop.over { border-color: #0072B2; background: #eef6fb; }
  #preview { max-width: 100%; max-height: 16rem; display: none; margin: 1rem auto; }
  table { width: 100%; border-collapse: collapse; margin-top: 1rem; }
  td { padding: .25rem .4rem; }
  td.p { width: 5.5rem; text-align: right; font-variant-numeric: tabular-nums; }
  .bar { height: .8rem; background: #0072B2; border-radius: 3px; }
  #error { color: #b00020; white-space: pre-wrap; }
  button { font: inherit; padding: .35rem 1rem; margin-top: .6rem; }
</style>
</head>
<body>
<h1>Classify an image</h1>
<p class="facts">${facts}</p>
<form id="form">
  <div id="drop">
    <input id="file" name="image" type="file" accept="image/*">
    <div>or drop an image here</div>
  </div>
  <label>top <input id="top" type="number" min="1" value="5" style="width:4rem"></label>
  <button id="go" type="submit">Classify</button>
</form>
<img id="preview" alt="the chosen image">
<p id="status" role="status"></p>
<p id="error" role="alert"></p>
<table id="results" aria-label="top labels"><tbody></tbody></table>
<script>
const $ = (id) => document.getElementById(id);
let chosen = null;
function choose(file) {
  chosen = file;
  $('preview').src = URL.createObjectURL(file);
  $('preview').style.display = 'block';
}
$('preview').addEventListener('error', () => { $('preview').style.display = 'none'; }); // not an image: the server says why
$('file').addEventListener('change', () => { if ($('file').files[0]) choose($('file').files[0]); });
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) choose(e.dataTransfer.files[0]); });
$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('error').textContent = '';
  const body = $('results').tBodies[0];
  body.replaceChildren();
  if (!chosen) { $('error').textContent = 'choose an image first'; return; }
  const form = new FormData();
  form.append('image', chosen, chosen.name);
  $('status').textContent = 'classifying…';
  try {
    const r = await fetch('predict?top=' + encodeURIComponent($('top').value || '5'), { method: 'POST', body: form });
    const answer = await r.json();
    if (!r.ok) throw new Error(answer.error || ('HTTP ' + r.status));
    for (const t of answer.top) {
      const row = body.insertRow();
      row.className = 'result';
      const name = row.insertCell(); name.className = 'label'; name.textContent = t.class;
      const p = row.insertCell(); p.className = 'p'; p.textContent = (100 * t.probability).toFixed(2) + ' %';
      const bar = row.insertCell(); bar.style.width = '45%';
      const fill = document.createElement('div'); fill.className = 'bar'; fill.style.width = (100 * t.probability).toFixed(1) + '%';
      bar.appendChild(fill);
    }
    $('status').textContent = 'done';
  } catch (err) {
    $('status').textContent = '';
    $('error').textContent = String(err.message || err);
  }
});
</script>
</body>
</html>
`;
}
