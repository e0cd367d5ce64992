// Keys of any kind in front of an engine that takes dense ids (the Pipeline's native pass): a KeyDictionary
// turns each batch's keys into ids, forgets the keys a refused batch created, and gives keys back. Steady
// state is one native find() per batch; a batch with new keys adds one intern().
import { SluiceError } from '../runtime/errors'
import { expectKeyColumn, type KeyKind, type KeyValues } from './key_column'
import { KeyDictionary, NO_KEY } from './key_dictionary'

/** The ids of one batch's keys, and the ids that batch created (to forget if it is refused). */
export interface TranslatedKeys {
  ids: Uint32Array
  created: Uint32Array | undefined
}

export class KeyTranslator {
  readonly kind: Exclude<KeyKind, 'dense'>
  private dictionary: KeyDictionary
  private readonly maxKeys: number

  constructor(kind: Exclude<KeyKind, 'dense'>, maxKeys: number) {
    this.kind = kind
    this.maxKeys = maxKeys
    this.dictionary = new KeyDictionary({ kind, maxKeys })
  }

  /** The batch's keys as ids (new keys added, all or nothing: ERR_OUT_OF_RANGE past maxKeys adds none). */
  translate(keys: unknown, length: number, name: string): TranslatedKeys {
    const column = expectKeyColumn(keys, this.kind, length, name)
    const ids = this.dictionary.find(column)
    let missing = false
    for (let i = 0; i < ids.length && !missing; i++) missing = ids[i] === NO_KEY
    if (!missing) return { ids, created: undefined }
    const known = ids.slice()
    this.dictionary.intern(column, ids)
    const created = new Set<number>()
    for (let i = 0; i < ids.length; i++) if (known[i] === NO_KEY) created.add(ids[i]!)
    return { ids, created: Uint32Array.from(created) }
  }

  /** The ids of the batch's keys, NO_KEY for those not held; adds nothing. */
  find(keys: unknown, length: number, name: string): Uint32Array {
    return this.dictionary.find(expectKeyColumn(keys, this.kind, length, name))
  }

  /** Forgets the keys a refused batch created (or expired ones: live ids, each once). */
  forget(created: Uint32Array | undefined): void {
    if (created !== undefined && created.length > 0) this.dictionary.release(created)
  }

  /** The keys of live ids, in the kind they came in. */
  keysOf(ids: Uint32Array): KeyValues {
    return this.dictionary.keysOf(ids)
  }

  get size(): number {
    return this.dictionary.size
  }

  snapshot(): Uint8Array {
    return this.dictionary.snapshot()
  }

  /** A dictionary restored from `bytes`, checked but not yet in use: adopt() it once the rest restored. */
  restored(bytes: Uint8Array): KeyDictionary {
    const dictionary = new KeyDictionary({ kind: this.kind, maxKeys: this.maxKeys })
    try {
      dictionary.restore(bytes)
    } catch (error) {
      dictionary.close()
      throw error
    }
    return dictionary
  }

  adopt(dictionary: KeyDictionary): void {
    if (dictionary.kind !== this.kind) throw new SluiceError('a dictionary of another key kind', 'ERR_INVALID_ARGUMENT')
    this.dictionary.close()
    this.dictionary = dictionary
  }

  close(): void {
    this.dictionary.close()
  }
}
