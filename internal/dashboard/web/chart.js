// A stacked area chart of requests per second by status class, drawn on a
// canvas (no library).
export const CLASSES = [
  { name: '2xx', index: 2, color: '#16a34a' },
  { name: '3xx', index: 3, color: '#2563eb' },
  { name: '4xx', index: 4, color: '#d97706' },
  { name: '5xx', index: 5, color: '#dc2626' },
  { name: 'other', index: 0, color: '#9ca3af' },
];

export class Chart {
  constructor(canvas, points) {
    this.c = canvas;
    this.points = points;
    this.data = []; // {t, rates[6]}
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  push(t, rates) {
    this.data.push({ t, rates });
    if (this.data.length > this.points) this.data.shift();
    this.draw();
  }

  draw() {
    const c = this.c, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    c.width = w * dpr; c.height = h * dpr;
    const g = c.getContext('2d');
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const left = 40, bottom = h - 18, top = 8;
    const totals = this.data.map((d) => d.rates.reduce((a, b) => a + b, 0));
    const maxY = niceMax(Math.max(1, ...totals));
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#7b8794';
    g.strokeStyle = '#e4e7eb';
    for (let i = 0; i <= 4; i++) {
      const y = bottom - (bottom - top) * i / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
      g.fillText(fmt(maxY * i / 4), 4, y + 4);
    }
    const step = (w - left) / Math.max(this.points - 1, 1);
    const x = (i) => w - (this.data.length - 1 - i) * step;
    const y = (v) => bottom - (bottom - top) * v / maxY;
    const base = this.data.map(() => 0);
    for (const cl of CLASSES) {
      const upper = this.data.map((d, i) => base[i] + d.rates[cl.index]);
      if (this.data.length > 1) {
        g.beginPath();
        this.data.forEach((_, i) => (i ? g.lineTo(x(i), y(upper[i])) : g.moveTo(x(i), y(upper[i]))));
        for (let i = this.data.length - 1; i >= 0; i--) g.lineTo(x(i), y(base[i]));
        g.closePath();
        g.fillStyle = cl.color + 'cc';
        g.fill();
      }
      upper.forEach((v, i) => { base[i] = v; });
    }
    g.fillStyle = '#7b8794';
    g.fillText('now', w - 24, h - 4);
    g.fillText('-5 min', left, h - 4);
  }
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v) {
  return v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
