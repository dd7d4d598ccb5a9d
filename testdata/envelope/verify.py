#!/usr/bin/env python3
# An independent implementation of docs/FORMAT.md (bucketkey/v1), written
# from the spec rather than the Go code, checked against vectors.json:
#   python3 testdata/envelope/verify.py     (needs python3-cryptography)
import json, hashlib, base64, struct, os
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

S, T = 65536, 16
def hkdf(secret, salt, info, L):
    return HKDF(algorithm=hashes.SHA256(), length=L, salt=salt, info=info).derive(secret)
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
def canon(ctx):
    return json.dumps(ctx, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()

f = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vectors.json')))
for v in f['vectors']:
    bk, salt, dek = (bytes.fromhex(v[k]) for k in ('bucket_key', 'salt', 'data_key'))
    kb, obj = v['key_bucket'].encode(), v['object'].encode()
    info = b"bucketkey/v1 object key" + struct.pack('>H', len(kb)) + kb + struct.pack('>H', len(obj)) + obj
    okm = hkdf(bk, salt, info, 44)
    assert okm[:32].hex() == v['object_key'] and okm[32:].hex() == v['seal_nonce'], v['name']
    # The seal's additional data authenticates the object's shape.
    if v['multipart']: shape = b'\x01' + struct.pack('>Q', 0)
    else: shape = b'\x00' + struct.pack('>Q', v['parts'][0]['plaintext_size'])
    sk = AESGCM(okm[:32]).encrypt(okm[32:], dek, b"bucketkey/v1 data key" + shape)
    assert sk.hex() == v['sealed_key'], v['name']
    # The fields in the table's order; packed, the version and then
    # name=value, joined by single spaces, in x-amz-meta-bk-v alone.
    fields = [('kid', v['key_id']), ('kb', v['key_bucket']), ('wk', b64(bytes.fromhex(v['wrapped_key'])))]
    if v.get('context'): fields.append(('ctx', b64(canon(v['context']))))
    fields += [('salt', b64(salt)), ('sk', b64(sk))]
    if v['multipart']: fields.append(('mp', '1'))
    else: fields.append(('size', str(v['parts'][0]['plaintext_size'])))
    per_field = {'x-amz-meta-bk-v': '1', **{'x-amz-meta-bk-' + n: x for n, x in fields}}
    assert per_field == v['metadata_per_field'], (v['name'], per_field, v['metadata_per_field'])
    packed = {'x-amz-meta-bk-v': ' '.join(['1'] + [n + '=' + x for n, x in fields])}
    assert packed == v['metadata'], (v['name'], packed, v['metadata'])
    if v['multipart']:
        # END(N): the empty message sealed under a key and nonce derived from N.
        ek = hkdf(dek, None, b"bucketkey/v1 end" + struct.pack('>H', len(v['parts'])), 44)
        end_tag = AESGCM(ek[:32]).encrypt(ek[32:], b'', None)
    N = len(v['parts'])
    for p in v['parts']:
        # A part's stream is keyed by its number and its random header (the
        # HKDF salt); a single-part object's by the data key alone.
        header = bytes.fromhex(p['header']) if v['multipart'] else None
        if v['multipart']: assert len(header) == 16
        pk = hkdf(dek, header, b"bucketkey/v1 payload" + struct.pack('>H', p['part']), 39)
        assert pk[:32].hex() == p['payload_key'] and pk[32:].hex() == p['nonce_prefix']
        n = p['plaintext_size']
        pt = bytes(i % 251 for i in range(n))
        segs = [pt[i:i+S] for i in range(0, n, S)] or [b'']
        g = AESGCM(pk[:32]); ct = b''
        for i, s in enumerate(segs):
            nonce = pk[32:] + struct.pack('>I', i) + (b'\x01' if i == len(segs)-1 else b'\x00')
            ct += g.encrypt(nonce, s, None)
        assert len(ct) == p['ciphertext_size'] == n + 16*max(1, -(-n//S))
        assert hashlib.sha256(ct).hexdigest() == p['ciphertext_sha256'], v['name']
        if 'ciphertext' in p: assert ct.hex() == p['ciphertext']
        end = min(len(ct), S+T); assert ct[end-16:end].hex() == p['first_segment_tag']
        if v['multipart']:
            # Every stored part is its header, its stream and a 16-byte end
            # field: the end tag if the part ends the object (under 5 MiB, or
            # part 10000), else zeros. Only the last part may end the object.
            ends = n < 5 * 2**20 or p['part'] == 10000
            assert p['part'] == N or not ends, (v['name'], 'a part that ends the object is followed')
            field = end_tag if ends else bytes(16)
            stored = header + ct + field
            assert p['end_field'] == field.hex() and p['stored_size'] == len(stored), v['name']
            assert hashlib.sha256(stored).hexdigest() == p['stored_sha256'], v['name']
    if v['multipart']:
        # If the last part does not end the object, a 32-byte marker part
        # (16 zero bytes, then END(N)) follows it.
        assert v['end_tag'] == end_tag.hex(), v['name']
        last = v['parts'][-1]['plaintext_size']
        assert v.get('marker', False) == (not (last < 5 * 2**20 or N == 10000)), v['name']
    print('ok', v['name'])
