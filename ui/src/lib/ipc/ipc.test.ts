import { describe, expect, it } from 'vitest';
import { api, IpcError, runJob, type JobView } from './index';
import { emit, mockIPC } from './testing';

describe('ipc', () => {
  it('passes typed results through', async () => {
    mockIPC((cmd) => {
      if (cmd === 'app_info') {
        return { version: '9.9.9', dataDir: '/d', dataDirSource: 'explicit', environment: 'staging', uptimeSecs: 1, systemLocale: null, masterKey: { source: null, keyId: null, error: null } };
      }
      throw new Error(`unexpected ${cmd}`);
    });
    const info = await api.appInfo();
    expect(info.version).toBe('9.9.9');
  });

  it('turns {code, message} rejections into IpcError with the same code', async () => {
    // The UI branches on `code`; the mapping must preserve it exactly.
    mockIPC(() => {
      throw { code: 'storage_unavailable', message: 'no answer' };
    });
    const err = await api.storageStatus().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpcError);
    expect((err as IpcError).code).toBe('storage_unavailable');
    expect((err as IpcError).message).toBe('no answer');
  });

  it('treats anything else as internal', async () => {
    mockIPC(() => {
      throw 'command storage_status not allowed by ACL';
    });
    const err = (await api.storageStatus().catch((e: unknown) => e)) as IpcError;
    expect(err.code).toBe('internal');
    expect(err.message).toContain('not allowed');
  });

  it('runJob follows one job to its end, including reports sent before its id came back', async () => {
    const job = (id: string, state: JobView['state'], done: number): JobView => ({
      id, kind: 'audit.verify', state, actor: 'root', member: 'm', startedMs: 1, endedMs: null,
      done, total: 10, unit: 'entries', phase: 'hashing', rate: 0, etaSecs: null, result: null, error: null,
    });
    mockIPC(
      async (cmd) => {
        if (cmd !== 'audit_verify') throw new Error(`unexpected ${cmd}`);
        // The core can report before the start command's answer reaches the window.
        await emit('jobs://progress', [{ topic: 'jobs://progress', job: job('j1', 'running', 3) }]);
        await emit('jobs://progress', [{ topic: 'jobs://progress', job: job('other', 'running', 9) }]);
        return { id: 'j1' };
      },
      { shouldMockEvents: true },
    );
    const seen: number[] = [];
    const watched = runJob(() => api.auditVerify(), (progress) => seen.push(progress.done));
    expect(await watched.id).toBe('j1');
    await emit('jobs://progress', [{ topic: 'jobs://progress', job: job('j1', 'succeeded', 10) }]);
    const ended = await watched.ended;
    expect(ended.state).toBe('succeeded');
    // Only this job's reports, in order, the early one included.
    expect(seen).toEqual([3, 10]);
  });
});
