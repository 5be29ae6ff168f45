import { tamperBatteryTests } from './tamper-battery.test-support.ts';

tamperBatteryTests(0, 2);
