import { render, screen, waitFor } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import App from "../src/App.svelte";
import * as lab from "./fixtures/lab";
import { backend } from "./ipc";

test("settings load, and save sends every field (empty overrides as null)", async () => {
  window.location.hash = "#settings";
  const calls = backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  const ns = await screen.findByTestId("settings-defaultNamespace");
  expect(ns).toHaveValue("default");
  expect(screen.getByTestId("settings-autostart")).toBeChecked();
  expect(screen.getByTestId("settings-autoConnect")).not.toBeChecked();
  await waitFor(() => expect(screen.getByTestId("settings-lastContext")).toHaveValue("lab"));

  await user.click(screen.getByTestId("settings-autoConnect"));
  await user.click(screen.getByTestId("settings-keepPeer"));
  await user.selectOptions(screen.getByTestId("settings-lastContext"), "prod-us");
  await user.clear(ns);
  await user.type(ns, "web");
  await user.type(screen.getByTestId("settings-serviceCidr"), "10.43.0.0/16");
  await user.click(screen.getByTestId("settings-save"));

  await waitFor(() => expect(calls.some((c) => c.cmd === "set_settings")).toBe(true));
  expect(calls.find((c) => c.cmd === "set_settings")?.args).toEqual({
    settings: {
      autostart: true,
      autoConnect: true,
      lastContext: "prod-us",
      defaultNamespace: "web",
      serviceCidr: "10.43.0.0/16",
      serviceGateway: null,
      keepPeer: true,
      mtu: null,
      topologyLabel: null,
      address: null,
      persistentKeepalive: null,
    },
  });
  expect(await screen.findByText("Saved")).toBeInTheDocument();
});

test("connect's flags are settings: topology label, tunnel address, keepalive", async () => {
  window.location.hash = "#settings";
  const calls = backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await user.type(await screen.findByTestId("settings-topologyLabel"), "kilo.squat.ai/location");
  await user.type(screen.getByTestId("settings-address"), "10.4.255.5");
  expect(screen.getByText(/An address with its prefix/)).toBeInTheDocument();
  expect(screen.getByTestId("settings-save")).toBeDisabled();
  await user.type(screen.getByTestId("settings-address"), "/32");
  await user.type(screen.getByTestId("settings-persistentKeepalive"), "7200");
  expect(screen.getByText(/Seconds from 0 \(off\) to 3600/)).toBeInTheDocument();
  await user.clear(screen.getByTestId("settings-persistentKeepalive"));
  await user.type(screen.getByTestId("settings-persistentKeepalive"), "0");
  await user.click(screen.getByTestId("settings-save"));
  await waitFor(() => expect(calls.some((c) => c.cmd === "set_settings")).toBe(true));
  const sent = calls.find((c) => c.cmd === "set_settings")?.args as { settings: Record<string, unknown> };
  expect(sent.settings.topologyLabel).toBe("kilo.squat.ai/location");
  expect(sent.settings.address).toBe("10.4.255.5/32");
  expect(sent.settings.persistentKeepalive).toBe(0);
});

test("an invalid service range is explained and cannot be saved", async () => {
  window.location.hash = "#settings";
  const calls = backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await user.type(await screen.findByTestId("settings-serviceCidr"), "10.43.0.0");
  expect(screen.getByText(/An address range such as 10.43.0.0\/16/)).toBeInTheDocument();
  expect(screen.getByTestId("settings-save")).toBeDisabled();
  expect(calls.some((c) => c.cmd === "set_settings")).toBe(false);
});

test("an MTU out of range is explained and cannot be saved", async () => {
  window.location.hash = "#settings";
  const calls = backend(lab.labState());
  const user = userEvent.setup();
  render(App);
  await user.type(await screen.findByTestId("settings-mtu"), "70");
  expect(screen.getByText(/A number of bytes from 576 to 9000/)).toBeInTheDocument();
  expect(screen.getByTestId("settings-save")).toBeDisabled();
  await user.clear(screen.getByTestId("settings-mtu"));
  await user.type(screen.getByTestId("settings-mtu"), "1280");
  expect(screen.getByTestId("settings-save")).toBeEnabled();
  expect(calls.some((c) => c.cmd === "set_settings")).toBe(false);
});

test("a refused save shows the error", async () => {
  window.location.hash = "#settings";
  backend(lab.labState(), {
    set_settings: () => {
      throw { kind: "other", title: "Could not save the settings", message: "read-only file system", fix: "Check ~/.config/kubewire.", command: null };
    },
  });
  const user = userEvent.setup();
  render(App);
  await user.click(await screen.findByTestId("settings-save"));
  expect(await screen.findByTestId("error-title")).toHaveTextContent("Could not save the settings");
});
