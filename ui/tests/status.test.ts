import { render, screen, waitFor, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import App from "../src/App.svelte";
import * as lab from "./fixtures/lab";
import { backend, commands, emitState } from "./ipc";

test("renders a connected state: phase, address, context, the 8 steps done", async () => {
  backend(lab.labState());
  render(App);
  await waitFor(() => expect(screen.getByTestId("status-phase")).toHaveTextContent("degraded"));
  expect(screen.getByTestId("laptop-address")).toHaveTextContent("10.4.255.5/32");
  expect(screen.getByTestId("cluster")).toHaveTextContent("https://192.0.2.10:6443");
  await waitFor(() => expect(screen.getByTestId("context-select")).toHaveValue("lab"));
  for (const id of ["kubeconfig", "api-reachable", "kilo-present", "key", "peer-registered", "planned", "applied", "first-handshake"]) {
    expect(screen.getByTestId(`step-${id}`)).toHaveAttribute("data-state", "done");
  }
  expect(screen.getByTestId("step-first-handshake")).toHaveTextContent("212 ms");
  expect(screen.getByTestId("warnings")).toHaveTextContent("aliyun has not answered a handshake");
  expect(screen.getByTestId("network-event")).toHaveTextContent("10.42.3.0/24 on wlan0 appeared → 10.42.3.0/24 (aws) withdrawn");
  expect(screen.getByTestId("mtu")).toHaveTextContent("1320 (the underlay's 1400 less 80)");
  expect(screen.getByTestId("disconnect-button")).toBeEnabled();
  expect(screen.queryByTestId("connect-button")).toBeNull();
  expect(screen.queryByTestId("error-box")).toBeNull();
});

test("connect sends the context chosen in the list", async () => {
  const calls = backend(lab.disconnectedState());
  const user = userEvent.setup();
  render(App);
  const select = await screen.findByTestId("context-select");
  // The kubeconfig's current context is preselected.
  await waitFor(() => expect(select).toHaveValue("lab"));
  await user.selectOptions(select, "staging-eu");
  await user.click(screen.getByTestId("connect-button"));
  await waitFor(() => expect(commands(calls)).toContain("connect"));
  expect(calls.find((c) => c.cmd === "connect")?.args).toEqual({ context: "staging-eu" });
});

test("progress arrives as state events: steps run, then the phase turns connected", async () => {
  backend(lab.disconnectedState());
  render(App);
  await screen.findByTestId("connect-button");
  await emitState(lab.connectingState());
  await waitFor(() => expect(screen.getByTestId("status-phase")).toHaveTextContent("connecting"));
  expect(screen.getByTestId("step-key")).toHaveAttribute("data-state", "done");
  expect(screen.getByTestId("step-peer-registered")).toHaveAttribute("data-state", "running");
  expect(screen.getByTestId("step-first-handshake")).toHaveAttribute("data-state", "pending");
  expect(screen.getByText(/Step 5 of 8: Peer registered/)).toBeInTheDocument();
  expect(screen.getByTestId("disconnect-button")).toBeInTheDocument();
  expect(screen.getByTestId("context-select")).toBeDisabled();

  await emitState(lab.healthyState());
  await waitFor(() => expect(screen.getByTestId("status-phase")).toHaveTextContent("connected"));
  expect(screen.getByTestId("laptop-address")).toHaveTextContent("10.4.255.5/32");
});

test("an error from the backend shows its title, fix and a copyable command", async () => {
  backend(lab.errorState());
  render(App);
  const box = await screen.findByTestId("error-box");
  expect(within(box).getByTestId("error-title")).toHaveTextContent("The kubewire service is not running");
  expect(within(box).getByTestId("error-fix")).toHaveTextContent("Start the service, then connect again.");
  expect(within(box).getByTestId("error-command")).toHaveTextContent("sudo systemctl enable --now kubewired");
  expect(screen.getByTestId("step-applied")).toHaveAttribute("data-state", "failed");
  expect(screen.getByTestId("status-phase")).toHaveTextContent("error");
  // Connecting again is offered.
  expect(screen.getByTestId("connect-button")).toBeEnabled();
});

test("a rejected connect shows the UiError it rejected with", async () => {
  backend(lab.disconnectedState(), {
    connect: () => {
      throw {
        kind: "not-authorised",
        title: "You are not allowed to use the kubewire service",
        message: "Permission denied on /run/kubewire/kubewired.sock.",
        fix: "Add yourself to the kubewire group, then log out and in again.",
        command: "sudo usermod -aG kubewire $USER",
      };
    },
  });
  const user = userEvent.setup();
  render(App);
  await waitFor(() => expect(screen.getByTestId("context-select")).toHaveValue("lab"));
  await user.click(screen.getByTestId("connect-button"));
  const box = await screen.findByTestId("error-box");
  expect(box).toHaveAttribute("data-kind", "not-authorised");
  expect(within(box).getByTestId("error-command")).toHaveTextContent("sudo usermod -aG kubewire $USER");
});

test("copy puts the command on the clipboard", async () => {
  backend(lab.errorState());
  const user = userEvent.setup();
  render(App);
  await screen.findByTestId("error-box");
  await user.click(screen.getByRole("button", { name: "Copy command" }));
  await expect(navigator.clipboard.readText()).resolves.toBe("sudo systemctl enable --now kubewired");
  expect(screen.getByRole("button", { name: "Copy command" })).toHaveTextContent("Copied");
});

test("disconnect invokes disconnect", async () => {
  const calls = backend(lab.healthyState());
  const user = userEvent.setup();
  render(App);
  await user.click(await screen.findByTestId("disconnect-button"));
  await waitFor(() => expect(commands(calls)).toContain("disconnect"));
});

test("a kubeconfig that cannot be read is explained, and there is nothing to connect to", async () => {
  backend(lab.disconnectedState(), {
    list_contexts: () => {
      throw {
        kind: "kubeconfig",
        title: "No kubeconfig found",
        message: "~/.kube/config does not exist and KUBECONFIG is not set.",
        fix: "Copy your cluster's kubeconfig to ~/.kube/config, or set KUBECONFIG.",
        command: "export KUBECONFIG=~/Downloads/lab.yaml",
      };
    },
  });
  render(App);
  const box = await screen.findByTestId("error-box");
  expect(within(box).getByTestId("error-title")).toHaveTextContent("No kubeconfig found");
  expect(within(box).getByTestId("error-command")).toHaveTextContent("export KUBECONFIG=~/Downloads/lab.yaml");
  expect(screen.getByTestId("connect-button")).toBeDisabled();
});

test("credentials that expired while connected offer Sign in again, which connects to the same context", async () => {
  const calls = backend({
    ...lab.healthyState(),
    signInNeeded: true,
    error: {
      kind: "sign-in",
      title: "Sign in to lab again",
      message: "The API server no longer accepts your credentials (Unauthorized): they expired or were revoked.",
      fix: "Choose \"Sign in again\": kubewire connects again and runs your kubeconfig's login.",
      command: "kubectl --context lab get --raw /version",
    },
  });
  const user = userEvent.setup();
  render(App);
  const box = await screen.findByTestId("sign-in");
  expect(box).toHaveTextContent("Your credentials for lab expired or were refused.");
  expect(screen.getByTestId("error-box")).toHaveAttribute("data-kind", "sign-in");
  await user.click(within(box).getByTestId("sign-in-button"));
  await waitFor(() => expect(commands(calls)).toContain("connect"));
  expect(calls.find((c) => c.cmd === "connect")?.args).toEqual({ context: "lab" });
});

test("no Sign in again while the credentials are fine", async () => {
  backend(lab.healthyState());
  render(App);
  await screen.findByTestId("status-phase");
  expect(screen.queryByTestId("sign-in")).toBeNull();
});

test("exposed ports are listed with Unexpose, and the form exposes a laptop port", async () => {
  const calls = backend(lab.labState(), { expose: () => "nothing listens on TCP port 3000 on this laptop yet", unexpose: () => null });
  const user = userEvent.setup();
  render(App);
  const section = await screen.findByTestId("exposed");
  expect(within(section).getByTestId("exposed-row")).toHaveTextContent("default/laptop-api");
  expect(within(section).getByTestId("exposed-row")).toHaveTextContent("laptop port 8080/tcp");
  await user.click(screen.getByTestId("unexpose-default/laptop-api"));
  await waitFor(() => expect(commands(calls)).toContain("unexpose"));
  expect(calls.find((c) => c.cmd === "unexpose")?.args).toEqual({ service: "default/laptop-api" });
  // The form: a bad name keeps the button off; a good one sends port, name and namespace.
  const button = screen.getByTestId("expose-button");
  await user.type(screen.getByTestId("expose-port"), "3000");
  await user.type(screen.getByTestId("expose-name"), "Web_Dev");
  expect(button).toBeDisabled();
  await user.clear(screen.getByTestId("expose-name"));
  await user.type(screen.getByTestId("expose-name"), "web-dev");
  await user.click(button);
  await waitFor(() => expect(commands(calls)).toContain("expose"));
  expect(calls.find((c) => c.cmd === "expose")?.args).toEqual({ port: 3000, target: null, name: "web-dev", namespace: "default" });
  expect(await screen.findByTestId("expose-note")).toHaveTextContent("nothing listens on TCP port 3000");
});

test("a refused expose shows the error with its fix, and nothing else changes", async () => {
  backend(lab.labState(), {
    expose: () => {
      throw { kind: "refused", title: "Nothing was exposed", message: "the Service default/web exists and is not kubewire's", fix: "pick another name", command: null };
    },
  });
  const user = userEvent.setup();
  render(App);
  await screen.findByTestId("exposed");
  await user.type(screen.getByTestId("expose-port"), "9090");
  await user.type(screen.getByTestId("expose-name"), "web");
  await user.click(screen.getByTestId("expose-button"));
  expect(await screen.findByTestId("error-title")).toHaveTextContent("Nothing was exposed");
  expect(screen.getByTestId("error-fix")).toHaveTextContent("pick another name");
  expect(screen.getAllByTestId("exposed-row")).toHaveLength(1);
});
