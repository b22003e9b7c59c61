/* The progression tree as a graph: tiers as columns, prerequisite edges as SVG curves, nodes as
 * buttons (focusable, labelled) that open their details. PHTree.layout is pure (positions from
 * the /tree payload) so it can be tested apart from the DOM; PHTree.render draws it.
 *
 * Readability from 45 to 200 nodes: every node has its own fixed-size box in its tier's column
 * (no overlap by construction), nodes within a column are ordered by the mean row of their
 * prerequisites (fewer crossing edges), and the drawing scrolls instead of shrinking its text. */
(function (root) {
  'use strict';

  var W = 184, H = 58, COL_GAP = 72, ROW_GAP = 12, PAD = 12;
  var STATES = { locked: 'Locked', available: 'Available', target: 'Current target', unlocked: 'Unlocked', maxed: 'Maxed' };

  function layout(nodes) {
    var tiers = [];
    nodes.forEach(function (n) { if (tiers.indexOf(n.tier) < 0) tiers.push(n.tier); });
    tiers.sort(function (a, b) { return a - b; });
    var row = {};
    var columns = tiers.map(function () { return []; });
    nodes.forEach(function (n) { columns[tiers.indexOf(n.tier)].push(n); });
    columns.forEach(function (column, c) {
      column.forEach(function (n) {
        var rows = (n.prerequisites || []).map(function (p) { return row[p.key]; })
          .filter(function (r) { return r !== undefined; });
        n._weight = rows.length ? rows.reduce(function (a, b) { return a + b; }, 0) / rows.length : null;
      });
      column.sort(function (a, b) {
        var wa = a._weight === null ? -1 : a._weight, wb = b._weight === null ? -1 : b._weight;
        return wa - wb || String(a.category || '').localeCompare(String(b.category || ''))
          || String(a.name).localeCompare(String(b.name));
      });
      column.forEach(function (n, r) { row[n.key] = r; delete n._weight; });
    });
    var boxes = {};
    var height = 0;
    columns.forEach(function (column, c) {
      column.forEach(function (n, r) {
        var box = { key: n.key, x: PAD + c * (W + COL_GAP), y: PAD + r * (H + ROW_GAP), w: W, h: H, node: n };
        boxes[n.key] = box;
        height = Math.max(height, box.y + H + PAD);
      });
    });
    var edges = [];
    nodes.forEach(function (n) {
      (n.prerequisites || []).forEach(function (p) {
        if (boxes[p.key]) edges.push({ from: p.key, to: n.key, level: p.level });
      });
    });
    return {
      boxes: boxes, edges: edges, tiers: tiers,
      width: PAD * 2 + Math.max(1, tiers.length) * W + Math.max(0, tiers.length - 1) * COL_GAP,
      height: Math.max(height, H + 2 * PAD),
    };
  }

  function levelText(n) {
    if (n.max_level > 1) return 'Level ' + n.level + '/' + n.max_level;
    return n.level > 0 ? 'Unlocked' : 'Not unlocked';
  }

  function costText(n) {
    return n.next_cost == null ? 'complete' : n.next_cost + ' pts';
  }

  function label(n) {
    return n.name + ', ' + (STATES[n.state] || n.state) + ', ' + levelText(n).toLowerCase()
      + (n.next_cost == null ? '' : ', next level costs ' + n.next_cost + ' points');
  }

  var SVG = 'http://www.w3.org/2000/svg';

  function render(container, nodes, onOpen) {
    var doc = container.ownerDocument;
    var plan = layout(nodes);
    var stage = doc.createElement('div');
    stage.className = 'tree-stage';
    stage.style.width = plan.width + 'px';
    stage.style.height = plan.height + 'px';
    var svg = doc.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'tree-edges');
    svg.setAttribute('width', plan.width);
    svg.setAttribute('height', plan.height);
    svg.setAttribute('aria-hidden', 'true');
    plan.edges.forEach(function (e) {
      var a = plan.boxes[e.from], b = plan.boxes[e.to];
      var x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
      var mid = (x1 + x2) / 2;
      var path = doc.createElementNS(SVG, 'path');
      path.setAttribute('d', 'M' + x1 + ',' + y1 + ' C' + mid + ',' + y1 + ' ' + mid + ',' + y2 + ' ' + x2 + ',' + y2);
      var met = a.node.level >= (e.level || 1);
      path.setAttribute('class', 'edge' + (met ? ' met' : ''));
      path.dataset.from = e.from;
      path.dataset.to = e.to;
      svg.appendChild(path);
    });
    stage.appendChild(svg);
    var list = doc.createElement('ul');
    list.className = 'tree-nodes';
    list.setAttribute('aria-label', nodes.length + ' nodes, by tier');
    plan.tiers.forEach(function (tier) {
      nodes.filter(function (n) { return n.tier === tier; })
        .sort(function (a, b) { return plan.boxes[a.key].y - plan.boxes[b.key].y; })
        .forEach(function (n) {
          var box = plan.boxes[n.key];
          var li = doc.createElement('li');
          var button = doc.createElement('button');
          button.type = 'button';
          button.className = 'tnode ' + n.state;
          button.dataset.key = n.key;
          button.style.left = box.x + 'px';
          button.style.top = box.y + 'px';
          button.style.width = box.w + 'px';
          button.style.height = box.h + 'px';
          button.setAttribute('aria-label', label(n));
          var name = doc.createElement('span');
          name.className = 'tname';
          name.textContent = n.name;
          var meta = doc.createElement('span');
          meta.className = 'tmeta';
          meta.textContent = (n.max_level > 1 ? n.level + '/' + n.max_level + ' · ' : '') + costText(n);
          button.appendChild(name);
          button.appendChild(meta);
          button.addEventListener('click', function () { onOpen(n); });
          function highlight(on) {
            svg.querySelectorAll('[data-from="' + n.key + '"],[data-to="' + n.key + '"]').forEach(function (p) {
              p.classList.toggle('hot', on);
            });
          }
          button.addEventListener('mouseenter', function () { highlight(true); });
          button.addEventListener('mouseleave', function () { highlight(false); });
          button.addEventListener('focus', function () { highlight(true); });
          button.addEventListener('blur', function () { highlight(false); });
          li.appendChild(button);
          list.appendChild(li);
        });
    });
    stage.appendChild(list);
    var scrollLeft = container.scrollLeft, scrollTop = container.scrollTop;
    var focused = doc.activeElement && doc.activeElement.dataset ? doc.activeElement.dataset.key : null;
    container.replaceChildren(stage);
    container.scrollLeft = scrollLeft;
    container.scrollTop = scrollTop;
    if (focused) {
      var again = container.querySelector('[data-key="' + focused + '"]');
      if (again) again.focus({ preventScroll: true });
    }
    return plan;
  }

  root.PHTree = { layout: layout, render: render, label: label, levelText: levelText, STATES: STATES };
  if (typeof module === 'object' && module && module.exports) module.exports = root.PHTree;
})(typeof globalThis !== 'undefined' ? globalThis : this);
