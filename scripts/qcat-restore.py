#!/usr/bin/env python3
"""Reads a QCAT Console backup repository without the console (docs/backup-format.md).

Needs Python 3.9+ with `cryptography` and `zstandard` (Debian: python3-cryptography,
python3-zstandard). The master key is the base64 text of the key file or QCAT_MASTER_KEY.

    qcat-restore.py --repo DIR [--key-file FILE] list
    qcat-restore.py --repo DIR [--key-file FILE] show BACKUP_ID
    qcat-restore.py --repo DIR [--key-file FILE] extract BACKUP_ID --out-dir DIR [--source NAME]

`extract` writes each stream as <source>.<stream>.<ext> (.dump for pg_dump archives: restore
with `pg_restore --dbname=URL FILE`; .resp for Redis: `redis-cli --pipe < FILE`), checking
every chunk and each stream's length.
Exit codes: 0 done, 1 usage or key problems, 4 damage found.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import zstandard

FORMAT = 1
EXTENSIONS = {"pg_dump-custom": "dump", "redis-resp": "resp", "tar": "tar"}


class Damage(Exception):
    pass


def fail(message, code=1):
    print(f"qcat-restore: {message}", file=sys.stderr)
    sys.exit(code)


def open_sealed(key, aad, blob):
    """nonce (12) ‖ ciphertext ‖ tag (16), AES-256-GCM."""
    if len(blob) < 28:
        raise InvalidTag()
    return AESGCM(key).decrypt(blob[:12], blob[12:], aad)


class Repository:
    def __init__(self, root, masters_b64):
        self.root = root
        try:
            with open(os.path.join(root, "repository.json"), "rb") as f:
                self.description = json.load(f)
        except FileNotFoundError:
            fail(f"{root} is not a backup repository (no repository.json)")
        if self.description.get("format", 0) > FORMAT:
            fail(f"repository format {self.description['format']} is newer than this reader ({FORMAT})")
        prefix, version, key_id, body = self.description["key"].split(":", 3)
        if (prefix, version) != ("ENC", "v1"):
            fail("the repository key is not an ENC:v1 value")
        # A key file holds the current key first and older ones after it: the key id (the
        # first 8 hex digits of SHA-256 of the key) says which one wrapped this repository.
        masters = [base64.b64decode(text.strip()) for text in masters_b64]
        if any(len(m) != 32 for m in masters):
            fail("a master key is not base64 of 32 bytes")
        matching = [m for m in masters if hashlib.sha256(m).hexdigest()[:8] == key_id]
        if not matching:
            fail(f"the repository key is encrypted under master key {key_id}, which was not given")
        master = matching[0]
        try:
            keys = json.loads(open_sealed(master, f"backup.repository.{self.description['id']}".encode(),
                                          base64.b64decode(body)))
        except InvalidTag:
            fail("the repository key does not open with this master key (altered repository.json?)")
        self.encryption = base64.b64decode(keys["encryption"])
        self.chunk_id = base64.b64decode(keys["chunkId"])
        self.packs = {}

    def manifest(self, backup_id):
        path = os.path.join(self.root, "backups", backup_id + ".manifest")
        with open(path, "rb") as f:
            data = f.read()
        if data[:8] != b"QCATMF01":
            raise Damage(f"{path}: not a manifest")
        try:
            packed = open_sealed(self.encryption, f"manifest:{backup_id}".encode(), data[8:])
        except InvalidTag:
            raise Damage(f"{path}: does not authenticate")
        manifest = json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(packed))
        if manifest.get("format", 0) > FORMAT:
            fail(f"backup {backup_id} has format {manifest['format']}, newer than this reader ({FORMAT})")
        return manifest

    def backups(self):
        folder = os.path.join(self.root, "backups")
        ids = sorted(name[:-len(".manifest")] for name in os.listdir(folder)
                     if name.endswith(".manifest") and not name.startswith("."))
        return sorted((self.manifest(i) for i in ids), key=lambda m: (m["startedMs"], m["id"]))

    def chunk(self, entry):
        chunk_id, pack, offset, length, size = entry
        if pack not in self.packs:
            try:
                self.packs[pack] = open(os.path.join(self.root, "packs", pack[:2], pack), "rb")
            except FileNotFoundError:
                raise Damage(f"chunk {chunk_id}: its pack {pack} is missing")
        f = self.packs[pack]
        f.seek(offset)
        blob = f.read(length)
        try:
            packed = open_sealed(self.encryption, bytes.fromhex(chunk_id), blob)
        except InvalidTag:
            raise Damage(f"chunk {chunk_id} in pack {pack} does not authenticate")
        plain = zstandard.ZstdDecompressor().decompress(packed, max_output_size=size)
        if len(plain) != size or hmac.new(self.chunk_id, plain, hashlib.sha256).hexdigest() != chunk_id:
            raise Damage(f"chunk {chunk_id} in pack {pack} does not match its hash")
        return plain


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--key-file", help="the master key file (else QCAT_MASTER_KEY)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    show = sub.add_parser("show")
    show.add_argument("backup")
    extract = sub.add_parser("extract")
    extract.add_argument("backup")
    extract.add_argument("--out-dir", required=True)
    extract.add_argument("--source", action="append", default=[])
    args = parser.parse_args()

    if args.key_file:
        with open(args.key_file) as f:
            lines = [line for line in f.read().splitlines() if line.strip() and not line.startswith("#")]
        masters = [line.strip() for line in lines]
    else:
        masters = [os.environ["QCAT_MASTER_KEY"]] if os.environ.get("QCAT_MASTER_KEY") else []
    if not masters:
        fail("give the master key: --key-file FILE or QCAT_MASTER_KEY")
    repo = Repository(args.repo, masters)
    try:
        if args.command == "list":
            for m in repo.backups():
                sources = ",".join(s["name"] for s in m["sources"])
                print(f"{m['id']}\t{m['type']}\t{m['label']}\t{sources}\t{m['stats']['logicalBytes']}")
        elif args.command == "show":
            print(json.dumps(repo.manifest(args.backup), indent=2, ensure_ascii=False))
        else:
            manifest = repo.manifest(args.backup)
            os.makedirs(args.out_dir, exist_ok=True)
            for source in manifest["sources"]:
                if args.source and source["name"] not in args.source:
                    continue
                for stream in source["streams"]:
                    name = f"{source['name']}.{stream['name']}.{EXTENSIONS.get(stream['format'], 'bin')}"
                    path = os.path.join(args.out_dir, name)
                    written = 0
                    with open(path, "wb") as out:
                        for entry in stream["chunks"]:
                            plain = repo.chunk(entry)
                            written += len(plain)
                            out.write(plain)
                    if written != stream["size"]:
                        raise Damage(f"{name}: {written} bytes reassembled, the manifest says {stream['size']}")
                    print(path)
    except Damage as damage:
        fail(f"damaged: {damage}", 4)


if __name__ == "__main__":
    main()
