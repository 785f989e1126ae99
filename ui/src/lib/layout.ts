// Deterministic layout of the topology drawing: laptop -> segments (leader) -> members.
// Pure: the same Topology always gives the same picture, whatever order the backend sent.
// "wide": laptop on the left, one band per segment, leader then its members to the right.
// "narrow" (a small window or 200% zoom): a tree, laptop on top, segments below, members indented.
import type { Health, NodeRow, Topology } from "./types";

export const BOX_W = 168;
export const BOX_H = 46;
export const LAPTOP_W = 150;
const ROW_H = BOX_H + 16;
const BAND_HEAD = 36; // room for the location label above a gateway badge
const BAND_PAD = 12;
const BAND_GAP = 14;

// wide
const W_LAPTOP_X = 12;
const W_BAND_X = 236;
const W_LEADER_X = W_BAND_X + 16;
const W_MEMBER_X = W_LEADER_X + BOX_W + 56;

// narrow
const N_TRUNK_X = 24;
const N_BAND_X = 44;
const N_LEADER_X = N_BAND_X + 14;
const N_MEMBER_X = N_LEADER_X + 30;
const N_TOP = BOX_H + 22;

export type LayoutMode = "wide" | "narrow";

/** Below this many CSS pixels of drawing area the wide picture's text would shrink too far. */
export const NARROW_BELOW = 560;

export interface PlacedNode {
  name: string;
  x: number;
  y: number;
  role: "leader" | "member";
  location: string;
  segment: string;
  health: Health;
  gateway: boolean;
  detail: string;
}

export interface Band {
  segment: string;
  location: string;
  health: Health;
  gateway: boolean;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Edge {
  id: string;
  kind: "tunnel" | "lan" | "trunk";
  health: Health;
  d: string;
}

export interface Layout {
  mode: LayoutMode;
  width: number;
  height: number;
  laptop: { x: number; y: number };
  bands: Band[];
  nodes: PlacedNode[];
  edges: Edge[];
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function curve(x1: number, y1: number, x2: number, y2: number): string {
  const mx = (x1 + x2) / 2;
  return `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
}

/** Down from (x, y1), then right to (x2, y2), with a rounded corner. */
function elbow(x: number, y1: number, x2: number, y2: number): string {
  const r = Math.min(8, Math.abs(y2 - y1), Math.abs(x2 - x));
  return `M${x},${y1} V${y2 - r} Q${x},${y2} ${x + r},${y2} H${x2}`;
}

export function layoutTopology(
  topo: Topology,
  nodes: NodeRow[],
  gateway: string | null,
  mode: LayoutMode = "wide",
): Layout {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const segments = [...topo.segments].sort((a, b) => cmp(a.location, b.location) || cmp(a.name, b.name));
  const wide = mode === "wide";
  const width = wide ? W_MEMBER_X + BOX_W + BAND_PAD : N_MEMBER_X + BOX_W + BAND_PAD;
  const bandX = wide ? W_BAND_X : N_BAND_X;
  const leaderX = wide ? W_LEADER_X : N_LEADER_X;
  const memberX = wide ? W_MEMBER_X : N_MEMBER_X;

  const bands: Band[] = [];
  const placed: PlacedNode[] = [];
  const edges: Edge[] = [];
  const leaderCentres: { y: number; health: Health; segment: string }[] = [];
  let y = wide ? 0 : N_TOP;

  for (const seg of segments) {
    const members = [...new Set(seg.members)].filter((m) => m !== seg.leader).sort(cmp);
    // wide: members beside the leader, one per row; narrow: the leader's row, then one row per member.
    const rows = wide ? Math.max(1, members.length) : 1 + members.length;
    const h = BAND_HEAD + rows * ROW_H - 16 + BAND_PAD;
    bands.push({ segment: seg.name, location: seg.location, health: seg.health, gateway: seg.gateway, x: bandX, y, w: width - bandX, h });
    const top = y + BAND_HEAD;
    const leaderY = wide ? top + ((rows - 1) * ROW_H) / 2 : top;
    const leaderRow = byName.get(seg.leader);
    placed.push({
      name: seg.leader,
      x: leaderX,
      y: leaderY,
      role: "leader",
      location: seg.location,
      segment: seg.name,
      health: leaderRow?.health ?? seg.health,
      gateway: seg.gateway || leaderRow?.gateway === true || gateway === seg.leader,
      detail: seg.endpoint ?? "leader",
    });
    leaderCentres.push({ y: leaderY + BOX_H / 2, health: seg.health, segment: seg.name });
    members.forEach((m, i) => {
      const my = wide ? top + i * ROW_H : top + (i + 1) * ROW_H;
      const row = byName.get(m);
      placed.push({
        name: m,
        x: memberX,
        y: my,
        role: "member",
        location: seg.location,
        segment: seg.name,
        health: row?.health ?? seg.health,
        gateway: row?.gateway === true || gateway === m,
        detail: row?.allowedIps[0] ?? `via ${seg.leader}`,
      });
      edges.push({
        id: `lan:${seg.name}:${m}`,
        kind: "lan",
        health: row?.health ?? seg.health,
        d: wide
          ? curve(leaderX + BOX_W, leaderY + BOX_H / 2, memberX, my + BOX_H / 2)
          : elbow(leaderX + 14, leaderY + BOX_H, memberX, my + BOX_H / 2),
      });
    });
    y += h + BAND_GAP;
  }

  const height = Math.max(BOX_H + 20, y - BAND_GAP);
  const laptop = wide ? { x: W_LAPTOP_X, y: height / 2 - BOX_H / 2 } : { x: 0, y: 0 };
  const tunnels: Edge[] = leaderCentres.map((c) => ({
    id: `tunnel:${c.segment}`,
    kind: "tunnel",
    health: c.health,
    d: wide
      ? curve(W_LAPTOP_X + LAPTOP_W, height / 2, leaderX, c.y)
      : `M${N_TRUNK_X},${c.y} H${leaderX}`,
  }));
  if (!wide && leaderCentres.length > 0) {
    const last = leaderCentres[leaderCentres.length - 1];
    edges.unshift({ id: "trunk", kind: "trunk", health: "unknown", d: `M${N_TRUNK_X},${BOX_H} V${last.y}` });
  }
  return { mode, width, height, laptop, bands, nodes: placed, edges: [...tunnels, ...edges] };
}
