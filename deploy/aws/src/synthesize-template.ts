import { App, BootstraplessSynthesizer } from 'aws-cdk-lib';
import { CairnStack } from './cairn-stack.ts';

/**
 * The CloudFormation template of `CairnStack`, synthesised offline and deterministically: no
 * bootstrap stack (the template deploys with plain `aws cloudformation deploy`), no CDK version
 * or path metadata (the committed template changes only when the resources do).
 */
export function synthesizeCairnTemplate(): { stack: CairnStack; template: Record<string, unknown> } {
  const app = new App({
    analyticsReporting: false,
    context: { 'aws:cdk:enable-path-metadata': false, 'aws:cdk:enable-asset-metadata': false, 'aws:cdk:disable-stack-trace': true },
  });
  const stack = new CairnStack(app, 'Cairn', {
    synthesizer: new BootstraplessSynthesizer(),
    description: 'Cairn on AWS: storage and anchor buckets, KMS keys, ECS Fargate workers, the server policy',
  });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as Record<string, unknown>;
  return { stack, template };
}

/** The template as committed in `deploy/aws/cairn.template.json`. */
export function renderTemplate(template: Record<string, unknown>): string {
  return `${JSON.stringify(template, null, 2)}\n`;
}
