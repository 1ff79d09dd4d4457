/**
 * The protobuf wire format, as far as serving reads ONNX (`modelMetadata`, `readTreeEnsemble`):
 * varints, fixed-width numbers, lengths and skips. Written here rather than taken from
 * protobufjs's reader because loading protobufjs probes for optional modules with failing
 * `require`s, which cost a serving cold start about 30 ms, and its ONNX schema is 100 KiB of
 * bundle; the exporter (`graph.ts`), which never runs in a serving Lambda, still uses it.
 */
export class WireReader {
  pos = 0;
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get done(): boolean {
    return this.pos >= this.#bytes.length;
  }

  /** A varint of up to 64 bits, as a number: exact for lengths and tags, which is all that is used. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new RangeError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  string(): string {
    const length = this.varint();
    return new TextDecoder().decode(this.take(length));
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.take(8);
    else if (wireType === 2) this.take(this.varint());
    else if (wireType === 5) this.take(4);
    else throw new RangeError(`unsupported wire type ${wireType} at offset ${this.pos}`);
  }

  take(length: number): Uint8Array {
    if (this.pos + length > this.#bytes.length)
      throw new RangeError(
        `truncated: ${length} bytes wanted at offset ${this.pos} of ${this.#bytes.length}`,
      );
    const out = this.#bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  /** A little-endian 64-bit float (wire type 1). */
  double(): number {
    const b = this.take(8);
    return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
  }

  /** A little-endian 32-bit float (wire type 5). */
  float(): number {
    const b = this.take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
  }

  private byte(): number {
    if (this.pos >= this.#bytes.length) throw new RangeError(`truncated at offset ${this.pos}`);
    return this.#bytes[this.pos++] as number;
  }
}
