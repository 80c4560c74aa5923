/**
 * `mpl serve`: a model and its prompts loaded once, answering over HTTP (src/serve/server.ts) until SIGTERM or
 * Ctrl-C, which stop it cleanly (requests already received are answered).
 */
import type { Command } from 'commander';
import { checkBackbone } from '../../packages/backbone.js';
import { loadPromptsSource, type PromptsSource } from '../../packages/package.js';
import { PromptLearner } from '../../prompting/learner.js';
import { inferMethod, methodDef, type MethodName, type MethodOptions } from '../../prompting/methods/index.js';
import { PredictionServer } from '../../serve/server.js';
import { Classifier } from '../../train/classifier.js';
import { UserError } from '../../util/errors.js';
import { addComputeOptions, announce, computeFrom, type ComputeFlags } from '../compute-options.js';
import { addMaxImagePixelsOption, intFlag, numberFlag } from '../flags.js';
import { addMethodOptions, methodFrom, type MethodFlags } from '../method-options.js';
import { modelFrom } from '../model.js';
import { terminalReporter } from '../reporter.js';

interface ServeFlags extends MethodFlags, ComputeFlags {
  weights?: string;
  model?: string;
  prompts?: string;
  classes?: string;
  host: string;
  port: number;
  maxBodyMb: number;
  maxBatch: number;
  quiet?: boolean;
}

/** The method, its options and the classes: the prompts' own record, else the flags, else the tensors' shapes. */
function whatToServe(f: ServeFlags, source: PromptsSource | null): { method: MethodName; options: MethodOptions; classnames: string[] } {
  const listed = f.classes ? f.classes.split(',').map((c) => c.trim()).filter(Boolean) : [];
  let spec: { method: MethodName; options: MethodOptions };
  if (!source) spec = methodFrom({ ...f, method: f.method ?? 'zeroshot' });
  else if (source.config && !f.method) spec = { method: source.config.method, options: source.config.options };
  else if (f.method) spec = methodFrom(f);
  else {
    const inferred = inferMethod(source.tensors);
    if (!inferred.method) throw new UserError(`${f.prompts}: the tensors fit ${inferred.candidates.join(' and ') || 'no method'}: say which method wrote them with --method`);
    spec = { method: inferred.method, options: inferred.options };
  }
  const classnames = listed.length ? listed : (source?.config?.classnames ?? []);
  if (classnames.length === 0) throw new UserError('--classes "a,b,c" is required (the prompts do not record their classes)');
  return { ...spec, classnames };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/i;

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('classify images over HTTP: a page to upload an image, GET /health, POST /predict (a model and prompts loaded once)')
    .option('--weights <file>', 'CLIP weights file')
    .option('--model <name>', 'pretrained CLIP by name (ViT-B/16, ...)')
    .option('--prompts <file|dir>', 'a prompt package, a run folder, prompts.safetensors or model.pth.tar-N; none = zero-shot CLIP with --classes')
    .option('--classes <list>', 'comma-separated class names (default: the classes the prompts were trained on)')
    .option('--host <address>', 'address to listen on; anything but this machine (127.0.0.1, ::1) is reachable by others and gets a warning', '127.0.0.1')
    .option('--port <n>', 'port (0 = a free one; the URL is printed)', intFlag('--port', { min: 0, max: 65535 }), 8080)
    .option('--max-body-mb <n>', 'largest upload accepted, in MB (larger: HTTP 413)', numberFlag('--max-body-mb', { min: 0.001, max: 1024 }), 20)
    .option('--max-batch <n>', 'images per model batch (requests waiting meanwhile are batched)', intFlag('--max-batch', { min: 1, max: 1024 }), 16)
    .option('--quiet', 'no line per request');
  addMethodOptions(addComputeOptions(addMaxImagePixelsOption(cmd)))
    .addHelpText(
      'after',
      `
Examples:
  mpl serve --model ViT-B/16 --prompts eurosat-mpl            # a prompt package (mpl export RUN --package DIR)
  curl --data-binary @photo.jpg 'http://127.0.0.1:8080/predict?top=3'
  curl -F image=@photo.jpg http://127.0.0.1:8080/predict
  mpl serve --weights clip.safetensors --classes "cat,dog" --port 0     # zero-shot CLIP on a free port
Answers are what mpl predict --json prints for the image. SIGTERM or Ctrl-C stops it cleanly.`,
    )
    .action(async (f: ServeFlags) => {
      const source = f.prompts ? loadPromptsSource(f.prompts) : null;
      const { method, options, classnames } = whatToServe(f, source);
      const reporter = terminalReporter({ quiet: f.quiet });
      const compute = computeFrom(f);
      const loaded = await modelFrom(f, compute);
      announce(compute, reporter);
      if (source) await checkBackbone(source.requirement, loaded, f.prompts!);
      const learner = new PromptLearner(loaded.model, loaded.tokenizer, method, classnames, { ...options, ...(source?.config?.dataset ? { dataset: source.config.dataset } : {}) });
      let classifier: Classifier | null = null;
      try {
        if (source) learner.loadSaved(source, f.prompts!);
        classifier = new Classifier(learner);
        const info = {
          method,
          method_name: methodDef(method).display.name,
          backbone: loaded.backbone,
          prompts: f.prompts ?? null,
          classes: classnames.length,
          classnames,
          device: loaded.model.device,
          precision: loaded.model.precision.name,
        };
        const server = new PredictionServer(classifier, {
          host: f.host,
          port: f.port,
          maxBodyBytes: Math.round(f.maxBodyMb * 1e6),
          maxBatch: f.maxBatch,
          preprocess: loaded.preprocess,
          info,
          log: f.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
        });
        if (!LOOPBACK.test(f.host)) {
          process.stderr.write(`warning: --host ${f.host}: the server is reachable from other machines; it has no authentication and no TLS (put it behind a proxy that has)\n`);
        }
        const url = await server.listen();
        process.stdout.write(`mpl serve: ${info.method_name} on ${loaded.backbone}, ${classnames.length} classes, ${info.device} ${info.precision}\nlistening on ${url} (SIGTERM or Ctrl-C stops)\n`);
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGTERM', () => resolve('SIGTERM'));
          process.once('SIGINT', () => resolve('SIGINT'));
        });
        process.stderr.write(`mpl serve: ${signal}: answering the requests already received, then stopping\n`);
        await server.close();
        process.stdout.write('mpl serve: stopped\n');
      } finally {
        classifier?.dispose();
        learner.dispose();
        loaded.model.dispose();
      }
    });
}
