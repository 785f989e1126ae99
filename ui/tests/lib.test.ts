import { expect, test } from "vitest";
import { toUiError } from "../src/lib/api";
import { bytes, duration, handshakeAge, ms } from "../src/lib/format";

test("bytes are humanised in binary units", () => {
  expect(bytes(0)).toBe("0 B");
  expect(bytes(1023)).toBe("1023 B");
  expect(bytes(1536)).toBe("1.5 KiB");
  expect(bytes(785 * 1024)).toBe("785 KiB");
  expect(bytes(5 * 1024 ** 3)).toBe("5.0 GiB");
});

test("durations and handshake ages read like a person would say them", () => {
  expect(duration(14)).toBe("14 s");
  expect(duration(151)).toBe("2 min");
  expect(duration(3 * 3600 + 5 * 60)).toBe("3 h 5 min");
  expect(duration(2 * 86400)).toBe("2 d");
  expect(handshakeAge(null)).toBe("never");
  expect(handshakeAge(9)).toBe("9 s ago");
  expect(ms(212)).toBe("212 ms");
  expect(ms(1500)).toBe("1.5 s");
});

test("a rejection that is not a UiError still gives a readable error", () => {
  const e = toUiError("command connect not found");
  expect(e.kind).toBe("other");
  expect(e.message).toBe("command connect not found");
  expect(e.fix).not.toBe("");
  const u = toUiError({ kind: "kilo-missing", title: "Kilo is not installed", message: "", fix: "Install Kilo.", command: "kubectl apply -f kilo.yaml" });
  expect(u).toEqual({ kind: "kilo-missing", title: "Kilo is not installed", message: "", fix: "Install Kilo.", command: "kubectl apply -f kilo.yaml" });
});
