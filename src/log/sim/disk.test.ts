// The simulated disk's own contract (FORMAT.md, "Fault model"), over many seeds: what was synced
// always survives a cut, what was not survives only in the shapes the model allows, and every one of
// those shapes does occur (else the simulation would test less than it claims).

import assert from "node:assert/strict";
import { test } from "node:test";
import { openModes } from "../storage.ts";
import { PowerCutError, SimDisk, sectorBytes } from "./disk.ts";

const seeds = Array.from({ length: 300 }, (_, i) => i + 1);

function filled(length: number, byte: number): Buffer {
  return Buffer.alloc(length, byte);
}

test("synced data under a synced name always survives a cut, byte for byte", () => {
  for (const seed of seeds) {
    const disk = new SimDisk(seed);
    disk.mkdirp("/d");
    disk.fsyncDirectory("/");
    const fd = disk.open("/d/f", openModes.createExclusive);
    disk.writev(fd, [filled(1500, 7)], 0);
    disk.fdatasync(fd);
    disk.fsyncDirectory("/d");
    disk.cutPowerNow();
    assert.throws(() => disk.read(fd, Buffer.alloc(1), 0, 1, 0), PowerCutError, "after the cut, all fails");
    const after = disk.afterPowerCut(seed);
    assert.ok(after.readFile("/d/f")?.equals(filled(1500, 7)), `seed ${seed}`);
  }
});

test("unsynced writes survive whole, torn at sector boundaries, or not at all; sizes are ones the file had", () => {
  const shapes = new Set<string>();
  for (const seed of seeds) {
    const disk = new SimDisk(seed);
    const fd = disk.open("/f", openModes.createExclusive);
    disk.writev(fd, [filled(1024, 1)], 0);
    disk.fdatasync(fd);
    disk.fsyncDirectory("/");
    disk.writev(fd, [filled(3 * sectorBytes, 2)], 512); // overwrites sector 1, extends to 2048
    disk.cutPowerNow();
    const bytes = disk.afterPowerCut(seed).readFile("/f")!;
    assert.ok(bytes.length === 1024 || bytes.length === 2048, `seed ${seed}: size ${bytes.length}`);
    const sectors: string[] = [];
    for (let at = 0; at < bytes.length; at += sectorBytes) {
      const sector = bytes.subarray(at, at + sectorBytes);
      const byte = sector[0];
      assert.ok(
        sector.every((each) => each === byte),
        `seed ${seed}: sector ${at / sectorBytes} is torn inside`,
      );
      if (at === 0) assert.equal(byte, 1, "synced bytes stay");
      else if (at === 512) assert.ok(byte === 1 || byte === 2, "old or new");
      else assert.ok(byte === 0 || byte === 2, "new or never written (zeros)");
      sectors.push(String(byte));
    }
    shapes.add(sectors.join(""));
  }
  for (const shape of ["11", "1222", "1122", "1200", "1202"])
    assert.ok(shapes.has(shape), `shape ${shape} never seen: ${[...shapes]}`);
});

test("a name is durable only once its directory is synced; a rename is atomic", () => {
  const outcomes = new Set<string>();
  for (const seed of seeds) {
    const disk = new SimDisk(seed);
    let fd = disk.open("/old", openModes.createExclusive);
    disk.writev(fd, [filled(10, 1)], 0);
    disk.fdatasync(fd);
    disk.close(fd);
    disk.fsyncDirectory("/");
    fd = disk.open("/new.tmp", openModes.createExclusive);
    disk.writev(fd, [filled(10, 2)], 0);
    disk.fdatasync(fd); // data durable, name not
    disk.close(fd);
    disk.rename("/new.tmp", "/old");
    disk.cutPowerNow();
    const after = disk.afterPowerCut(seed);
    const old = after.readFile("/old");
    const temporary = after.readFile("/new.tmp");
    assert.ok(old !== null, `seed ${seed}: the replaced name never vanishes`);
    assert.ok(old.equals(filled(10, 1)) || old.equals(filled(10, 2)), "old or new, never a mix");
    outcomes.add(`${old[0]}${temporary === null ? "" : "+tmp"}`);
  }
  for (const outcome of ["1", "2", "1+tmp"])
    assert.ok(outcomes.has(outcome), `never ${outcome}: ${[...outcomes]}`);
});

test("a sync covers only what was written before it started", async () => {
  for (const seed of seeds.slice(0, 50)) {
    const disk = new SimDisk(seed);
    const fd = disk.open("/f", openModes.createExclusive);
    disk.fsyncDirectory("/");
    disk.writev(fd, [filled(sectorBytes, 1)], 0);
    const synced = new Promise<void>((resolve, reject) =>
      disk.fdatasyncAsync(fd, (error) => (error ? reject(error) : resolve())),
    );
    disk.writev(fd, [filled(sectorBytes, 2)], sectorBytes); // after the sync started
    await synced;
    disk.cutPowerNow();
    const bytes = disk.afterPowerCut(seed).readFile("/f")!;
    assert.ok(bytes.subarray(0, sectorBytes).equals(filled(sectorBytes, 1)), `seed ${seed}`);
  }
});
