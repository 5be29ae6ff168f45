import { CairnError } from '@cairn/protocol/errors';
import { configOption, json, program, readInputFile, say } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/**
 * `cairn init`, `doctor`, `validate` and `serve`: making, checking and running a server from its
 * config. Each loads what it needs when it runs (the engine and Fastify only for `serve` and
 * `doctor`), so every other `cairn` command starts quickly.
 */
export function addServerCommands(): void {
  program
    .command('init')
    .argument('[directory]', 'where to write cairn.config.yaml and the data directory', '.')
    .description('write a working local config, its data directory and keys (0600)')
    .action(async (directory: string) => {
      const { initServer } = await import('./init-server.ts');
      const result = await initServer(directory, { refuseUnreachableSandboxes: true });
      if (json()) {
        say(JSON.stringify(result));
        return;
      }
      say(`wrote ${result.configFile}`);
      say(`data in ${result.dataDirectory}; signing key ${result.keyId} (pin it when you verify evidence)`);
      say(`operator token (admin; shown once, only its hash is kept): ${result.operatorToken}`);
      say('next: cairn doctor');
    });

  program
    .command('doctor')
    .description('check that this machine and config can run work')
    .action(async () => {
      const { diagnoseServer } = await import('./diagnose-server.ts');
      const findings = await diagnoseServer(await loadServerConfigLazily(configOption()));
      if (json()) say(JSON.stringify(findings));
      else
        for (const finding of findings)
          say(`${finding.ok ? 'ok  ' : 'FAIL'}  ${finding.check.padEnd(13)} ${finding.detail}${finding.fix ? `\n      fix: ${finding.fix}` : ''}`);
      process.exitCode = findings.every((finding) => finding.ok) ? 0 : 1;
    });

  program
    .command('validate')
    .argument('<spec>', 'a run spec, YAML or JSON')
    .option('--fragment <file>', "also check FILE, a planner's output.json, as the fragment the item --emitted-by would add to this run")
    .option('--emitted-by <itemId>', 'the planner item (emits) of the spec that would emit --fragment')
    .description('check a run spec (and a fragment a planner of it would emit) and report every problem with its JSON path')
    .action(async (file: string, options: { fragment?: string; emittedBy?: string }) => {
      const { decodeRunSpec, loadRunSpec } = await import('@cairn/protocol');
      const { spec, digest } = loadRunSpec(decodeRunSpec(readInputFile(file, 'the run spec'), file), { source: file });
      if (options.fragment !== undefined || options.emittedBy !== undefined) {
        if (options.fragment === undefined || options.emittedBy === undefined)
          throw new CairnError('CAIRN_PAYLOAD_INVALID', 'Give --fragment and --emitted-by together: a fragment is checked against the item that emits it.', {
            path: options.fragment === undefined ? '--fragment' : '--emitted-by',
          });
        // Loaded only here: every other command starts without the engine.
        const { checkFragmentAgainstSpec } = await import('@cairn/engine');
        const fragment = checkFragmentAgainstSpec(spec, options.emittedBy, readInputFile(options.fragment, 'the fragment'));
        const ids = fragment.items.map((item) => item.id);
        if (json()) return void say(JSON.stringify({ valid: true, name: spec.name, emittedBy: options.emittedBy, items: ids }));
        return void say(
          `valid: the fragment adds ${ids.length} items to run "${spec.name}" under ${options.emittedBy}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}; checked offline, not against a server's executors, queues, adapters and secrets`,
        );
      }
      if (json()) say(JSON.stringify({ valid: true, name: spec.name, items: spec.items.length, digest }));
      else say(`valid: run "${spec.name}", ${spec.items.length} items, spec digest ${digest}`);
    });

  program
    .command('serve')
    .description('run the server: the engine and its HTTP API on server.host:server.port (tokens required off loopback)')
    .action(async () => {
      const loaded = await loadServerConfigLazily(configOption());
      const { host, port, auth, timeouts } = loaded.config.server;
      // Before anything starts: a work root sandboxes cannot reach would fail every item, one by one.
      const { sandboxesOnThisMachine, sandboxReachRefusal, workRootOption } = await import('./sandbox-reach.ts');
      const unreachable = sandboxesOnThisMachine(loaded) ? sandboxReachRefusal(loaded.paths.work, workRootOption(loaded)) : undefined;
      if (unreachable) throw unreachable;
      const { lockDataDirectory } = await import('../store/sqlite/data-directory-lock.ts');
      // One SQLite server per data directory; PostgreSQL replicas share one (ADR 0023): the lease
      // in the database decides which runs the engine.
      const lock = loaded.config.engine.state.kind === 'sqlite' ? lockDataDirectory(loaded.paths.dataDirectory) : { release: () => {} };
      // With --json, standard output is the one JSON document: the log goes to standard error.
      const [{ createServerLogger }, { FileDescriptorSink }, { isatty }] = await Promise.all([
        import('../logging/server-logger.ts'),
        import('../logging/file-descriptor-sink.ts'),
        import('node:tty'),
      ]);
      const logDescriptor = json() ? 2 : 1;
      const logSink = new FileDescriptorSink(logDescriptor);
      const logger = createServerLogger({ level: loaded.config.server.logLevel, destination: logSink, pretty: isatty(logDescriptor) });
      logSink.health.onRecovered((outage) => logger.warn(outage, 'log lines were dropped while the log could not be written'));
      const [{ composeServer }, { buildHttpApi }, { httpApiSettingsOf }, { isLoopback }, { hostNamesOf }] = await Promise.all([
        import('../composition/compose-server.ts'),
        import('../http/http-server.ts'),
        import('../http/http-api-settings.ts'),
        import('../http/loopback.ts'),
        import('../http/browser-requests.ts'),
      ]);
      // composeServer probes the S3 seams: a bucket that would not enforce conditional writes, or an
      // anchor bucket without Object Lock, stops the server here with the probe's error and fix. A
      // store that does not answer yet (started beside the server) is waited for, saying so.
      const { composeWhenStoreAnswers } = await import('../composition/compose-when-store-answers.ts');
      const storeWaitMs = (await import('@cairn/protocol')).parseDuration(timeouts.storeWait);
      const composition = await composeWhenStoreAnswers(() => composeServer(loaded, { logger, logSink: logSink.health }), {
        waitMs: storeWaitMs,
        onWait: (error, leftMs) =>
          logger.warn({ code: error.code, waitingSeconds: Math.ceil(leftMs / 1_000) }, `waiting for the server's store to answer: ${error.message}`),
      }).catch((error: unknown) => {
        lock.release();
        throw error;
      });
      // A changed signing key is handed over (config.previousSigner) or refused before anything listens.
      const { checkServerSigner } = await import('./check-server-signer.ts');
      const takeOver = await checkServerSigner(composition, loaded).catch(async (error: unknown) => {
        await composition.close();
        lock.release();
        throw error;
      });
      if (takeOver?.rotated)
        logger.info(
          { fromKeyId: takeOver.fromKeyId, keyId: takeOver.keyId, seq: takeOver.seq },
          'signing key rotated: the old key signed the handover (signer.rotated)',
        );
      if (auth === 'tokens' && !isLoopback(host) && !(await composition.tokens.hasLiveTokens())) {
        await composition.close();
        lock.release();
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `server.host ${host} is reachable from other machines and there is no token to let anyone in: make one first with \`cairn token create --name me --scope admin\`, or bind 127.0.0.1.`,
          { path: 'config.server.host' },
        );
      }
      const { parseDuration } = await import('@cairn/protocol');
      const ms = (text: string) => parseDuration(text);
      const app = await buildHttpApi({ composition, logger, ...httpApiSettingsOf(loaded.config.server) });
      composition.start();
      composition.webhookDispatcher.start();
      const stop = async () => {
        // Bounded: idle connections close now; requests and event streams still open when the
        // grace ends are cut, so one silent client can never keep the process alive.
        const cut = setTimeout(() => app.server.closeAllConnections(), ms(timeouts.shutdownGrace));
        app.server.closeIdleConnections();
        await app.close();
        clearTimeout(cut);
        await composition.close();
        lock.release();
        process.exit(0);
      };
      // Before the announcement: whoever reads "cairn serving" may signal at once, and a signal
      // with no handler yet would kill the server instead of stopping it.
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
      await app.listen({ host, port });
      if (hostNamesOf(host, loaded.config.server.allowedHosts).names === 'any')
        logger.warn(
          { host },
          'server.allowedHosts is unset on a server bound to every interface: it answers any host name, so set the names it is reached by (DNS rebinding)',
        );
      // The address it really bound (0.0.0.0 is every interface, not 127.0.0.1).
      const bound = app.server.address();
      const address =
        typeof bound === 'object' && bound !== null ? `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : String(bound);
      // The dashboard's address too: the page a person opens (docs/operations/dashboard.md).
      const dashboard = `${address}/dashboard/`;
      const announcement = json()
        ? JSON.stringify({ listening: address, dashboard })
        : `cairn serving ${address} (data in ${loaded.paths.dataDirectory}; dashboard at ${dashboard}); Ctrl-C stops`;
      // Through a sink that drops what it cannot write, as the log is (and, without --json, counted
      // with it): a full disk under standard output must not stop a server that is up.
      (json() ? new FileDescriptorSink(1) : logSink).write(`${announcement}\n`);
    });
}
