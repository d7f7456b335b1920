import { existsSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServerHandle } from "../helpers/nats-server.js";

describe("nats-server test helper", () => {
  let srv: NatsServerHandle | undefined;
  let nc: NatsConnection | undefined;

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await srv?.dispose();
  });

  it("starts a private JetStream server, survives a restart with the same store, and cleans up", async () => {
    srv = await startNatsServer();
    expect(srv.port).not.toBe(4222);
    expect(srv.url).toBe(`nats://127.0.0.1:${srv.port}`);
    expect(srv.pid).toBeTypeOf("number");
    expect(existsSync(srv.storeDir)).toBe(true);

    nc = await connect({ servers: srv.url });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.getAccountInfo();
    expect(info.streams).toBe(0);

    await jsm.streams.add({ name: "HELPER", subjects: ["helper.>"] });
    const ack = await jetstream(nc).publish("helper.one", "hello");
    expect(ack.stream).toBe("HELPER");
    expect(ack.seq).toBe(1);
    await nc.close();
    nc = undefined;

    // outage: the port stops answering, the store stays
    const port = srv.port;
    await srv.stop();
    expect(srv.pid).toBeUndefined();
    await expect(connect({ servers: srv.url, reconnect: false })).rejects.toThrow();
    expect(existsSync(srv.storeDir)).toBe(true);

    // restart on the same port with the same store
    await srv.start();
    expect(srv.port).toBe(port);
    expect(srv.pid).toBeTypeOf("number");

    nc = await connect({ servers: srv.url });
    const jsm2 = await jetstreamManager(nc);
    const si = await jsm2.streams.info("HELPER");
    expect(si.state.messages).toBe(1);
    const msg = await jsm2.streams.getMessage("HELPER", { seq: 1 });
    expect(msg?.subject).toBe("helper.one");
    expect(msg?.string()).toBe("hello");
    await nc.close();
    nc = undefined;

    const storeDir = srv.storeDir;
    await srv.dispose();
    await srv.dispose(); // idempotent
    expect(srv.pid).toBeUndefined();
    expect(existsSync(storeDir)).toBe(false);
  });

  it("passes extra config text through (authorization)", async () => {
    const auth = await startNatsServer({
      config: `authorization { user: "alice", password: "s3cret" }`,
    });
    try {
      await expect(connect({ servers: auth.url, reconnect: false })).rejects.toThrow();
      const c = await connect({ servers: auth.url, user: "alice", pass: "s3cret" });
      await c.flush();
      await c.close();
    } finally {
      await auth.dispose();
    }
  });
});
