#!/usr/bin/env python3
"""Plots the suite's CSV: throughput against rule count and against flow
count, as one SVG (no plotting library needed).

  tools/bench/plot.py bench.csv docs/benchmarks.svg
"""
import csv
import sys

RULES = {"acl1_1k": 878, "acl1_10k": 9761, "acl1_50k": 27510}
FLOWS = {"64K flows": 65536, "1M flows": 1048576}


def panel(x0, title, xlabel, points, xfmt):
    w, h, pad = 300, 200, 40
    out = [f'<g transform="translate({x0},20)">',
           f'<text x="{w / 2 + pad}" y="0" text-anchor="middle" font-size="13">{title}</text>',
           f'<line x1="{pad}" y1="{h}" x2="{w + pad}" y2="{h}" stroke="black"/>',
           f'<line x1="{pad}" y1="10" x2="{pad}" y2="{h}" stroke="black"/>',
           f'<text x="{w / 2 + pad}" y="{h + 32}" text-anchor="middle" font-size="11">{xlabel}</text>',
           f'<text x="10" y="{h / 2}" font-size="11" transform="rotate(-90 10 {h / 2})" text-anchor="middle">Mpps</text>']
    ymax = max(p[1] for p in points) * 1.2 if points else 1
    n = len(points)
    coords = []
    for i, (x, y) in enumerate(points):
        cx = pad + (i + 0.5) * w / max(1, n)
        cy = h - (y / ymax) * (h - 10)
        coords.append((cx, cy))
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#1f6fb2"/>')
        out.append(f'<text x="{cx:.1f}" y="{cy - 8:.1f}" text-anchor="middle" font-size="11">{y:.1f}</text>')
        out.append(f'<text x="{cx:.1f}" y="{h + 15}" text-anchor="middle" font-size="11">{xfmt(x)}</text>')
    if len(coords) > 1:
        out.append('<polyline fill="none" stroke="#1f6fb2" points="' +
                   " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
    out.append("</g>")
    return "\n".join(out)


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    rules = sorted((RULES[r["variant"]], float(r["mpps"])) for r in rows if r["scenario"] == "rules")
    flows = sorted((FLOWS[r["variant"]], float(r["mpps"])) for r in rows
                   if r["scenario"] == "flows" and r["variant"] in FLOWS)
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="720" height="270" font-family="sans-serif">',
           '<rect width="100%" height="100%" fill="white"/>',
           panel(0, "Established traffic vs rule count", "ClassBench acl1 rules", rules, lambda x: f"{x:,}"),
           panel(360, "Established traffic vs concurrent flows", "flows", flows, lambda x: f"{x // 1024}K"),
           "</svg>"]
    open(sys.argv[2], "w").write("\n".join(svg))


if __name__ == "__main__":
    main()
