import { definePackageTests } from '../vitest.shared.ts';

export default definePackageTests({ include: ['**/*.test.ts'], name: 'repository' });
