/** A secret's sealed value as stored: the envelope is left as text, for whoever decrypts it to check. */
export interface SealedSecret {
  readonly version: number;
  /** The cipher's envelope, as JSON text. */
  readonly envelope: string;
}
