import { CairnError } from '@cairn/protocol';
import { KubeConfig } from '@kubernetes/client-node';

/** The cluster of the settings: a KubeConfig as given, a kubeconfig's text loaded, or the client's default. */
export function kubeConfigOf(given: KubeConfig | string | undefined, settingsPath: string): KubeConfig {
  if (given instanceof KubeConfig || (typeof given === 'object' && given !== null)) return given;
  const config = new KubeConfig();
  try {
    if (given === undefined) config.loadFromDefault();
    else config.loadFromString(given);
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [kubernetes] invalid settings: "${settingsPath}.kubeConfig" ${given === undefined ? 'is unset and no default kubeconfig could be loaded' : 'is not a kubeconfig'}: ${error instanceof Error ? error.message : String(error)}.`,
      { path: `${settingsPath}.kubeConfig`, cause: error },
    );
  }
  return config;
}
