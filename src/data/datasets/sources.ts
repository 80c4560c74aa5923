/**
 * Where a dataset's files come from, as data its DatasetDef holds (`download`): the archives and files
 * `mpl data download` fetches (mirrors, checksums from the publishers / torchvision, what to take out of
 * each archive), the paths that exist once the dataset is complete, and the manual steps for what has no
 * stable public link. src/data/download.ts does the fetching and placing.
 */

/** Something to take out of an extracted archive and put into the dataset folder. */
export interface Take {
  /**
   * Posix path inside the archive. If it is not at exactly this path it is searched for by suffix, a
   * few levels deep, because mirrors differ in their top folder (`caltech-101/…` or not).
   */
  from: string;
  /** Destination relative to the dataset folder; `'.'` moves the children of `from` into the dataset folder. */
  to?: string;
  /** Missing in the archive is fine (README files and the like). */
  optional?: boolean;
  /** `from` is itself an archive (Caltech101's zip holds a tar.gz): check it, extract it, take from it. */
  extract?: { kind: 'tar' | 'zip'; md5?: string; sha256?: string; take: Take[] };
}

export interface DatasetFile {
  /** Mirrors, tried in order when one fails (HTTP error, unreachable). */
  urls: string[];
  /** Local file name of the download (URLs may end in `?download=1`). */
  file: string;
  md5?: string;
  sha256?: string;
  size?: number;
  /** `file`: placed as is at `to` (default `file`); archives are extracted and their `take` applied. */
  kind: 'tar' | 'zip' | 'file';
  take?: Take[];
  to?: string;
}

/** Steps printed when `path` (relative to the dataset folder) is missing; always when no path. */
export interface ManualStep {
  path?: string;
  steps: (datasetDir: string, root: string) => string[];
}

/** How a dataset is downloaded and laid out under `--root` (CoOp's DATASETS.md, spec §3.1). */
export interface DatasetDownload {
  homepage: string;
  /** What can be downloaded automatically (may be empty). */
  files: DatasetFile[];
  /** Paths relative to the dataset folder that exist once the dataset is complete. */
  expect: string[];
  manual?: ManualStep[];
}

/*
 * Split files: CoOp hosts them on Google Drive only (no stable direct link). The repository
 * linzhiqiu/cross_modal_adaptation redistributes seven of them (MIT) — pinned here to one commit and
 * to the sha256 of each file (which are the same bytes as the copies in shared/data/splits).
 */
const SPLITS = 'https://raw.githubusercontent.com/linzhiqiu/cross_modal_adaptation/c7e7e68ae4eeadfab98e7886b2d6c9cf48a7ceb5/splits/';

export function splitFile(file: string, sha256: string, size: number): DatasetFile {
  return { urls: [SPLITS + file], file, sha256, size, kind: 'file', to: file };
}

/** CoOp's Google-Drive link for a file, for the manual steps. */
export const gdrive = (id: string): string => `https://drive.google.com/file/d/${id}/view`;

export const IMAGENET_CLASSNAMES = gdrive('1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF');

