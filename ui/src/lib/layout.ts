// Deterministic layout of the topology drawing: laptop -> segments (leader) -> members.
// Pure: the same Topology always gives the same picture, whatever order the backend sent.
import type { Health, NodeRow, Topology } from "./types";

export const BOX_W = 168;
export const LAPTOP_W = 150;
export const BOX_H = 46;
const LAPTOP_X = 12;
const BAND_X = 236;
const LEADER_X = BAND_X + 16;
const MEMBER_X = LEADER_X + BOX_W + 56;
const MEMBER_GAP_X = 22;
const ROW_H = BOX_H + 16;
const BAND_HEAD = 30;
const BAND_PAD = 12;
const BAND_GAP = 14;
// One member per row: a line from the leader to a member never crosses another member.
export const PER_ROW = 1;

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
  kind: "tunnel" | "lan";
  health: Health;
  d: string;
}

export interface Layout {
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

export function layoutTopology(topo: Topology, nodes: NodeRow[], gateway: string | null): Layout {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const segments = [...topo.segments].sort((a, b) => cmp(a.location, b.location) || cmp(a.name, b.name));
  const width = MEMBER_X + PER_ROW * BOX_W + (PER_ROW - 1) * MEMBER_GAP_X + BAND_PAD;

  const bands: Band[] = [];
  const placed: PlacedNode[] = [];
  const edges: Edge[] = [];
  let y = 0;
  const leaderCentres: { y: number; health: Health; segment: string }[] = [];

  for (const seg of segments) {
    const members = [...new Set(seg.members)].filter((m) => m !== seg.leader).sort(cmp);
    const rows = Math.max(1, Math.ceil(members.length / PER_ROW));
    const h = BAND_HEAD + rows * ROW_H - 16 + BAND_PAD;
    bands.push({
      segment: seg.name,
      location: seg.location,
      health: seg.health,
      gateway: seg.gateway,
      x: BAND_X,
      y,
      w: width - BAND_X,
      h,
    });
    const top = y + BAND_HEAD;
    const leaderY = top + ((rows - 1) * ROW_H) / 2;
    const leaderRow = byName.get(seg.leader);
    placed.push({
      name: seg.leader,
      x: LEADER_X,
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
      const mx = MEMBER_X + (i % PER_ROW) * (BOX_W + MEMBER_GAP_X);
      const my = top + Math.floor(i / PER_ROW) * ROW_H;
      const row = byName.get(m);
      placed.push({
        name: m,
        x: mx,
        y: my,
        role: "member",
        location: seg.location,
        segment: seg.name,
        health: row?.health ?? seg.health,
        gateway: row?.gateway === true || gateway === m,
        detail: row?.allowedIps[0] ?? "member",
      });
      const fromX = LEADER_X + BOX_W;
      const fromY = leaderY + BOX_H / 2;
      edges.push({
        id: `lan:${seg.name}:${m}`,
        kind: "lan",
        health: row?.health ?? seg.health,
        d: curve(fromX, fromY, mx, my + BOX_H / 2),
      });
    });
    y += h + BAND_GAP;
  }

  const height = Math.max(BOX_H + 20, y - BAND_GAP);
  const laptop = { x: LAPTOP_X, y: height / 2 - BOX_H / 2 };
  for (const c of leaderCentres) {
    edges.unshift({
      id: `tunnel:${c.segment}`,
      kind: "tunnel",
      health: c.health,
      d: curve(LAPTOP_X + LAPTOP_W, height / 2, LEADER_X, c.y),
    });
  }
  return { width, height, laptop, bands, nodes: placed, edges };
}
