# plot.gp - the figures of the activation comparison from the files
# activations writes.  usage: gnuplot -e "dir='OUTDIR'" plot.gp
if (!exists("dir")) dir = "out"
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1000,640 font "Sans,11"
} else {
    set terminal png size 1000,640
}
f(name) = dir."/".name

# the report's colours: naive blue, piecewise linear orange, DTReLU green,
# DDTReLU red, data grey, ReLU dark grey
blue = "#1f77b4"; orange = "#ff7f0e"; green = "#2ca02c"; red = "#d62728"

# Fig. 11: the trained curves over the data distribution
set output f("activations.png")
set title "Learnable-threshold activations after training to imitate ReLU"
set xlabel "input x"
set ylabel "output"
set y2label "data density"
set xrange [-3:8]
set yrange [-0.5:7]
set y2range [0:0.6]
set ytics nomirror
set y2tics
set key top left box opaque
set grid
set style fill solid 0.35 noborder
plot f("hist.dat") using 1:2 axes x1y2 with boxes lc rgb "#b0b0b0" title "data: N(1, 1.5^2)", \
     f("curves.dat") using 1:2 with lines lw 2 dt 2 lc rgb "#404040" title "ReLU", \
     "" using 1:3 with lines lw 2 lc rgb blue title "naive dynamic threshold", \
     "" using 1:4 with lines lw 2 lc rgb orange title "piecewise linear", \
     "" using 1:5 with lines lw 2 lc rgb green title "DTReLU (learnable bounds)", \
     "" using 1:6 with lines lw 2 lc rgb red title "DDTReLU"
unset y2label; unset y2tics; unset y2range
set ytics mirror

# the thresholds along training, and the loss
set output f("training.png")
set multiplot layout 2,2 title "Training the thresholds (SGD on mean (f(x) - relu(x))^2)"
set key off
unset title
set xlabel "step"
set ylabel "threshold"
set xrange [*:*]
set yrange [-0.5:7]
set title "naive: one-sided gradients, thresholds pile up"
plot for [c=2:9] f("thresholds.dat") using 1:c with lines lw 1.5 lc rgb blue
set title "DDTReLU: two-sided gradients, thresholds stay spread"
plot for [c=10:17] f("thresholds.dat") using 1:c with lines lw 1.5 lc rgb red
set title "DTReLU: bounds a, b (the grid between them is uniform)"
plot for [c=18:19] f("thresholds.dat") using 1:c with lines lw 1.5 lc rgb green
set title "loss (mean over 20 steps)"
set ylabel "loss"
set logscale y
set format y "10^{%L}"
set yrange [1e-6:1e4]
set key top right box opaque width 2 maxrows 2
plot f("loss.dat") using 1:2 with lines lw 1.5 lc rgb blue title "naive", \
     "" using 1:3 with lines lw 1.5 lc rgb orange title "pwl", \
     "" using 1:4 with lines lw 1.5 lc rgb green title "DTReLU", \
     "" using 1:5 with lines lw 1.5 lc rgb red title "DDTReLU"
unset multiplot
unset logscale
set format y "%g"

# Fig. 12: run time against data size
set output f("timing.png")
set title "One forward + backward pass (solid: 3 bits, dashed: 8 bits)"
set xlabel "elements"
set ylabel "milliseconds"
set logscale xy
set format x "10^{%L}"
set xrange [*:*]
set yrange [*:*]
set key top left
plot f("timing.dat") using 1:($2*1e3) with linespoints lw 2 pt 7 lc rgb blue title "naive", \
     "" using 1:($3*1e3) with linespoints lw 2 pt 7 lc rgb orange title "piecewise linear", \
     "" using 1:($4*1e3) with linespoints lw 2 pt 7 lc rgb green title "DTReLU", \
     "" using 1:($5*1e3) with linespoints lw 2 pt 7 lc rgb red title "DDTReLU", \
     "" using 1:($6*1e3) with linespoints lw 2 dt 2 pt 6 lc rgb blue notitle, \
     "" using 1:($7*1e3) with linespoints lw 2 dt 2 pt 6 lc rgb orange notitle, \
     "" using 1:($8*1e3) with linespoints lw 2 dt 2 pt 6 lc rgb green notitle, \
     "" using 1:($9*1e3) with linespoints lw 2 dt 2 pt 6 lc rgb red notitle
