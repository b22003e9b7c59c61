// node --test tests/js/   : PHTree.layout (static/js/tree.js), the tree graph's positions
import assert from 'node:assert/strict';
import { test } from 'node:test';

await import(new URL('../../static/js/tree.js', import.meta.url).href);
const { layout } = globalThis.PHTree;

// n nodes over `tiers` tiers; each node past tier 0 needs one or two of the tier before.
function tree(n, tiers) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const tier = i % tiers;
    const before = nodes.filter((x) => x.tier === tier - 1);
    const prerequisites = before.length ? [before[i % before.length], before[(i * 7) % before.length]]
      .filter((x, j, all) => all.indexOf(x) === j).map((x) => ({ key: x.key, level: 1 })) : [];
    nodes.push({ key: 'k' + i, name: 'Node ' + i, tier, level: 0, max_level: 1, state: 'locked', prerequisites });
  }
  return nodes;
}

function overlaps(boxes) {
  const list = Object.values(boxes);
  let count = 0;
  for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) {
    const a = list[i], b = list[j];
    if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) count++;
  }
  return count;
}

for (const [n, tiers] of [[45, 6], [200, 10], [200, 3]]) {
  test(`${n} nodes over ${tiers} tiers: one column per tier, no two boxes overlap`, () => {
    const plan = layout(tree(n, tiers));
    assert.equal(Object.keys(plan.boxes).length, n);
    assert.equal(overlaps(plan.boxes), 0);
    const columns = new Set(Object.values(plan.boxes).map((b) => b.x));
    assert.equal(columns.size, tiers);
    for (const b of Object.values(plan.boxes)) {
      assert.ok(b.x + b.w <= plan.width && b.y + b.h <= plan.height, 'inside the drawing');
    }
  });
}

test('every prerequisite becomes an edge from an earlier column to a later one', () => {
  const nodes = tree(45, 6);
  const plan = layout(nodes);
  const expected = nodes.reduce((sum, n) => sum + n.prerequisites.length, 0);
  assert.equal(plan.edges.length, expected);
  for (const e of plan.edges) assert.ok(plan.boxes[e.from].x < plan.boxes[e.to].x);
});

test('sparse tiers still get adjacent columns', () => {
  const plan = layout([
    { key: 'a', name: 'A', tier: 0, prerequisites: [] },
    { key: 'b', name: 'B', tier: 5, prerequisites: [{ key: 'a', level: 1 }] },
  ]);
  assert.deepEqual(plan.tiers, [0, 5]);
  assert.ok(plan.boxes.b.x - plan.boxes.a.x < 300);
});

test('a node follows its prerequisites down the column (fewer crossing edges)', () => {
  const plan = layout([
    { key: 'top', name: 'Z top', tier: 0, prerequisites: [] },
    { key: 'bottom', name: 'A bottom', tier: 0, prerequisites: [] },
    { key: 'child-of-z', name: 'A child', tier: 1, prerequisites: [{ key: 'top', level: 1 }] },
    { key: 'child-of-a', name: 'Z child', tier: 1, prerequisites: [{ key: 'bottom', level: 1 }] },
  ]);
  const aboveParent = plan.boxes.bottom.y < plan.boxes.top.y;
  const aboveChild = plan.boxes['child-of-a'].y < plan.boxes['child-of-z'].y;
  assert.equal(aboveParent, aboveChild);
});
