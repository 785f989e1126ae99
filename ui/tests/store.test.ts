import { expect, test } from "vitest";
import { AppStore, MAX_LOGS } from "../src/lib/store.svelte";
import * as lab from "./fixtures/lab";
import { backend, emitLog, emitState } from "./ipc";

test("a state event that lands while get_state is in flight wins over the older answer", async () => {
  let answer: (v: unknown) => void = () => {};
  backend(lab.disconnectedState(), { get_state: () => new Promise((r) => (answer = r)) });
  const store = new AppStore();
  const started = store.start();
  await new Promise((r) => setTimeout(r, 10));
  await emitState(lab.connectingState());
  answer(lab.disconnectedState());
  await started;
  expect(store.state.phase).toBe("connecting");
  store.stop();
});

test("logs: the snapshot first, then events; at most MAX_LOGS kept", async () => {
  backend(lab.labState());
  const store = new AppStore();
  await store.start();
  expect(store.logs).toHaveLength(lab.logs().length);
  for (let i = 0; i < MAX_LOGS; i++) {
    await emitLog({ time: lab.NOW + i, level: "debug", target: "t", message: `m${i}` });
  }
  expect(store.logs).toHaveLength(MAX_LOGS);
  expect(store.logs[store.logs.length - 1].message).toBe(`m${MAX_LOGS - 1}`);
  store.stop();
});

test("after stop, events no longer reach the store", async () => {
  backend(lab.disconnectedState());
  const store = new AppStore();
  await store.start();
  store.stop();
  await emitState(lab.healthyState());
  expect(store.state.phase).toBe("disconnected");
});
