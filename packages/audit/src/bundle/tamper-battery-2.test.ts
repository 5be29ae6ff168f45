import { tamperBatteryTests } from './tamper-battery.test-support.ts';

tamperBatteryTests(1, 2);
