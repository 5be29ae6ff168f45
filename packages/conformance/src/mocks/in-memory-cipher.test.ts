import { describeCipher } from '../cipher/describe-cipher.ts';
import { createInMemoryCipher } from './in-memory-cipher.ts';

describeCipher({ name: 'in-memory aes-256-gcm', create: () => createInMemoryCipher() });
