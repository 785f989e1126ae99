import { render, screen, waitFor } from "@testing-library/svelte";
import { expect, test } from "vitest";
import App from "../src/App.svelte";
import { layoutTopology } from "../src/lib/layout";
import * as lab from "./fixtures/lab";
import { backend, emitState } from "./ipc";

const groups = () => [...document.querySelectorAll<SVGGElement>('[data-testid="topo-node"]')];

test("one node group per node, the laptop, the gateway marked, health coloured", async () => {
  window.location.hash = "#topology";
  backend(lab.labState());
  render(App);
  const svg = await screen.findByTestId("topology");
  expect(svg.tagName.toLowerCase()).toBe("svg");
  expect(screen.getByTestId("topo-laptop")).toHaveTextContent("10.4.255.5/32");

  const names = groups().map((g) => g.dataset.node).sort();
  expect(names).toEqual(lab.labNodes().map((n) => n.name).sort());

  const gateways = groups().filter((g) => g.getAttribute("data-gateway") === "true");
  expect(gateways.map((g) => g.dataset.node)).toEqual(["aws"]);

  const health = Object.fromEntries(groups().map((g) => [g.dataset.node, g.dataset.health]));
  expect(health).toMatchObject({ aws: "healthy", gcp: "stale", aliyun: "no-handshake" });
  expect(groups().find((g) => g.dataset.node === "gcp")?.getAttribute("class")).toContain("tone-stale");
  // Leaders are drawn as leaders, members as members.
  const role = Object.fromEntries(groups().map((g) => [g.dataset.node, g.dataset.role]));
  expect(role).toMatchObject({ aws: "leader", "aws-2": "member", azure: "leader", "azure-2": "member" });
});

test("the drawing follows state events: failover moves the gateway, health changes colour", async () => {
  window.location.hash = "#topology";
  backend(lab.labState());
  render(App);
  await screen.findByTestId("topology");
  const nodes = lab.labNodes().map((n) => ({
    ...n,
    gateway: n.name === "azure",
    health: n.name === "gcp" ? ("healthy" as const) : n.health,
  }));
  await emitState(lab.labState({ nodes, gateway: "azure" }));
  await waitFor(() =>
    expect(groups().filter((g) => g.getAttribute("data-gateway") === "true").map((g) => g.dataset.node)).toEqual([
      "azure",
    ]),
  );
  expect(groups().find((g) => g.dataset.node === "gcp")).toHaveAttribute("data-health", "healthy");
});

test("the layout is deterministic whatever order the segments and members arrive in", () => {
  const s = lab.labState();
  const shuffled = {
    ...s.topology,
    segments: [...s.topology.segments].reverse().map((g) => ({ ...g, members: [...g.members].reverse() })),
  };
  const a = layoutTopology(s.topology, s.nodes, s.gateway);
  const b = layoutTopology(shuffled, [...s.nodes].reverse(), s.gateway);
  expect(b).toEqual(a);
  // Segments are stacked by location name, leaders left of their members, nothing overlaps.
  expect(a.bands.map((x) => x.location)).toEqual(["aliyun", "aws", "azure", "gcp"]);
  const boxes = a.nodes.map((n) => ({ x: n.x, y: n.y }));
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++)
      expect(Math.abs(boxes[i].x - boxes[j].x) >= 168 || Math.abs(boxes[i].y - boxes[j].y) >= 46).toBe(true);
  expect(a.edges.filter((e) => e.kind === "tunnel")).toHaveLength(4);
  expect(a.edges.filter((e) => e.kind === "lan")).toHaveLength(2);
});

test("the narrow layout (small window, 200% zoom) is a tree: same nodes, no overlaps, within its width", () => {
  const s = lab.labState();
  const wide = layoutTopology(s.topology, s.nodes, s.gateway, "wide");
  const narrow = layoutTopology(s.topology, s.nodes, s.gateway, "narrow");
  expect(narrow.width).toBeLessThan(wide.width / 2 + 40);
  expect(narrow.nodes.map((n) => n.name).sort()).toEqual(wide.nodes.map((n) => n.name).sort());
  for (const n of narrow.nodes) {
    expect(n.x + 168).toBeLessThanOrEqual(narrow.width);
    expect(n.y).toBeGreaterThan(46); // below the laptop
  }
  const ys = narrow.nodes.map((n) => n.y);
  expect(new Set(ys).size).toBe(ys.length); // one node per row
  expect(narrow.edges.filter((e) => e.kind === "tunnel")).toHaveLength(4);
});
