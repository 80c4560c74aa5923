// svg-to-pdfkit ships no types: the one function this project calls.
declare module 'svg-to-pdfkit' {
  import type PDFDocument from 'pdfkit';
  interface SVGtoPDFOptions {
    width?: number;
    height?: number;
    assumePt?: boolean;
    preserveAspectRatio?: string;
    fontCallback?: (family: string, bold: boolean, italic: boolean, fontOptions: unknown) => string;
    warningCallback?: (message: string) => void;
  }
  export default function SVGtoPDF(doc: PDFDocument, svg: string, x: number, y: number, options?: SVGtoPDFOptions): void;
}
