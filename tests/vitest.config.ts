import { configDefaults } from 'vitest/config';
import { definePackageTests } from '../vitest.shared.ts';

export default definePackageTests({
  include: ['**/*.test.ts'],
  // Its own project (vitest.server-image.config.ts), so that it runs among the packages.
  exclude: [...configDefaults.exclude, 'server-image.test.ts'],
  name: 'repository',
});
