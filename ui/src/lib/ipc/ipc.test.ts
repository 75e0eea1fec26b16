import { describe, expect, it } from 'vitest';
import { api, IpcError } from './index';
import { mockIPC } from './testing';

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
});
