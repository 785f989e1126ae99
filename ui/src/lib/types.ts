// Mirrors docs/tray-contract.md (the Rust side serialises these with serde, camelCase, kebab-case enums).

export type Phase = "disconnected" | "connecting" | "connected" | "degraded" | "error";

export type StepId =
  | "kubeconfig"
  | "api-reachable"
  | "kilo-present"
  | "key"
  | "peer-registered"
  | "planned"
  | "applied"
  | "first-handshake";

export interface StepState {
  id: StepId;
  label: string;
  state: "pending" | "running" | "done" | "failed";
  ms: number | null;
  detail: string | null;
}

export type UiErrorKind =
  | "daemon-unreachable"
  | "not-authorised"
  | "kilo-missing"
  | "kubeconfig"
  | "api-unreachable"
  | "refused"
  | "sign-in"
  | "other";

export interface UiError {
  kind: UiErrorKind;
  title: string;
  message: string;
  fix: string;
  command: string | null;
}

export interface ContextInfo {
  name: string;
  cluster: string;
  server: string;
  namespace: string | null;
  current: boolean;
}

export type Health = "healthy" | "stale" | "no-handshake" | "unknown";

export interface NodeRow {
  name: string;
  location: string;
  segment: string;
  leader: boolean;
  gateway: boolean;
  endpoint: string | null;
  handshakeAgeSecs: number | null;
  rxBytes: number;
  txBytes: number;
  health: Health;
  allowedIps: string[];
}

export interface Segment {
  name: string;
  location: string;
  leader: string;
  members: string[];
  gateway: boolean;
  health: Health;
  endpoint: string | null;
}

export interface Topology {
  laptop: { address: string | null };
  segments: Segment[];
}

export interface DnsInfo {
  zone: string;
  searchSuffixes: string[];
  server: string;
  backend: string;
}

export interface AppState {
  phase: Phase;
  context: string | null;
  cluster: string | null;
  laptopAddress: string | null;
  connectedSince: number | null;
  steps: StepState[];
  error: UiError | null;
  apiReachable: boolean;
  controllerAttached: boolean;
  gateway: string | null;
  nodes: NodeRow[];
  topology: Topology;
  dns: DnsInfo | null;
  warnings: string[];
  daemonReachable: boolean;
  /** The last network change the daemon followed, and what it did. */
  network: { at: number; text: string } | null;
  /** The tunnel's MTU and where it came from. */
  mtu: string | null;
  /** The API server refused the credentials (401): offer "Sign in again" (connect to `context` again). */
  signInNeeded: boolean;
  /** The laptop ports the cluster may connect to, with their Services (`kubewire expose`). */
  exposed: ExposedRow[];
}

/** One exposed laptop port. */
export interface ExposedRow {
  /** `namespace/name` of the Service. */
  service: string;
  /** The laptop's port. */
  port: number;
  protocol: string;
}

export interface DoctorCheck {
  name: string;
  status: "pass" | "warn" | "fail";
  detail: string;
  fix: string | null;
}

export interface ResolveResult {
  name: string;
  answers: string[];
  rcode: string;
  ms: number;
  error: string | null;
}

export interface Settings {
  autostart: boolean;
  autoConnect: boolean;
  lastContext: string | null;
  defaultNamespace: string;
  serviceCidr: string | null;
  serviceGateway: string | null;
  keepPeer: boolean;
  mtu: number | null;
  /** Kilo's --topology-label; null: topology.kubernetes.io/region. */
  topologyLabel: string | null;
  /** The laptop's tunnel address; null: its Peer's, else chosen from its key. */
  address: string | null;
  /** Persistent keepalive in seconds (0 = off); null: 25. */
  persistentKeepalive: number | null;
}

export type LogLevel = "error" | "warn" | "info" | "debug";

export interface LogEntry {
  time: number;
  level: LogLevel;
  target: string;
  message: string;
}

/** What the window shows before the first `get_state` answer arrives. */
export function emptyState(): AppState {
  return {
    phase: "disconnected",
    context: null,
    cluster: null,
    laptopAddress: null,
    connectedSince: null,
    steps: [],
    error: null,
    apiReachable: false,
    controllerAttached: false,
    gateway: null,
    nodes: [],
    topology: { laptop: { address: null }, segments: [] },
    dns: null,
    warnings: [],
    daemonReachable: false,
    network: null,
    mtu: null,
    signInNeeded: false,
    exposed: [],
  };
}
