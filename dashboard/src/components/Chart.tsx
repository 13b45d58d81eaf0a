// A time series chart (uPlot) that redraws when its data changes.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
}

export function Chart({
  title,
  times,
  lines,
  unit,
}: {
  title: string;
  times: number[];
  lines: Line[];
  unit: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current) return;
    const plot = new uPlot(
      {
        title,
        width: Math.max(320, box.current.clientWidth),
        height: 180,
        series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, spanGaps: true }))],
        axes: [{}, { label: unit, size: 60 }],
      },
      [times, ...lines.map((l) => l.values)] as uPlot.AlignedData,
      box.current,
    );
    return () => plot.destroy();
  }, [title, times, lines, unit]);
  return <div className="chart" ref={box} role="img" aria-label={title} />;
}
